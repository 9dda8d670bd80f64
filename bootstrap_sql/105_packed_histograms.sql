-- Latency histograms built for merging (docs/dbt.md, "Percentiles over any window").
--
-- The jsonb histograms of 011 cost a text parse per bucket and per row, and the aggregate
-- mart_hist_merge(jsonb) re-aggregated its whole state at every row (quadratic in the rows of
-- a window): 4.9 s for a p95 per tool over 30 days of hours, slower than percentile_cont over
-- the raw rows. A packed histogram is one numeric in which bucket i of mart_hist_bucket()
-- owns the 16 decimal digits at 10^(16 * (i + 1665)):
--
--     packed = sum over buckets of count(i) * 10^(16 * (i + 1665))
--
-- so adding histograms is adding numbers: mart_hist_merge(numeric) (or sum()) runs
-- PostgreSQL's own numeric addition, one call per row, no per-bucket work, no parsing.
-- 1665 shifts the lowest bucket of an integer (-2^31, bucket -1665) to the first field; the
-- highest (2^31 - 1) is bucket 1663. A field holds up to 10^16 - 1 values (ten million calls a
-- second in one bucket for thirty years); numeric stores only the digits from the highest to the
-- lowest non-zero one, in base 10^4 (a field is 4 of its digits: 8 bytes, zeros compressed).
-- Same buckets, representatives and 1/128 bound as 011 and 013.
--
-- Also the buckets the OpenTelemetry semantic conventions recommend for
-- mcp.server.operation.duration, which the /metrics endpoint serves from the tool marts.

-- Packed histogram from (bucket index, count) pairs; counts of a repeated index add up; zero
-- and null counts are left out; 0 when nothing is left. The digits are written as text, highest
-- bucket first with the empty buckets below each one as zeros, and read once with an exponent
-- (summing 10^k terms would rescale the sum at every term).
create function mart_hist_pack(indexes integer [], counts bigint [])
returns numeric
language sql
immutable
parallel safe
as $$
    with totals as (
        select pair.idx, sum(pair.n)::bigint as n
        from unnest(indexes, counts) as pair (idx, n)
        where pair.idx is not null and pair.n is not null and pair.n <> 0
        group by pair.idx
    ),

    checked as (
        select
            idx,
            n,
            idx - coalesce(lag(idx) over (order by idx), idx) as step
        from totals
    )

    select coalesce(
        (
            string_agg(
                lpad(n::text, 16, '0') || repeat('0', 16 * greatest(step - 1, 0)), ''
                order by idx desc
            )
            || 'e' || (16 * (min(idx) + 1665))
        )::numeric,
        0
    )
    from checked;
$$;

comment on function mart_hist_pack(integer [], bigint []) is
'Packed histogram (numeric: bucket i''s count in the 16 digits at 10^(16 * (i + 1665))) from '
'mart_hist_bucket() indexes and their counts.';

-- The (bucket, count) pairs of a packed histogram, empty buckets left out, lowest first. The
-- number is written out once, its empty low fields cut, the rest split into 16-digit fields
-- (positional access into text is linear in a UTF-8 database; a split is one pass).
create function mart_hist_unpack(h numeric)
returns table (bucket integer, bucket_count bigint)
language sql
immutable
parallel safe
set enable_nestloop = on
as $$
    with digits as materialized (
        select
            t.txt,
            length(t.txt) as len,
            (length(t.txt) - length(rtrim(t.txt, '0'))) / 16 as low_fields
        from (select trunc(h)::text as txt where h > 0) as t
    ),

    fields as materialized (
        select
            d.low_fields,
            string_to_array(
                regexp_replace(
                    lpad(
                        left(d.txt, d.len - 16 * d.low_fields),
                        16 * ((d.len - 16 * d.low_fields + 15) / 16),
                        '0'
                    ),
                    '(.{16})', '\1,', 'g'
                ),
                ','
            ) as f
        from digits as d
    )

    -- the split leaves an empty last element after the final comma
    select
        (fields.low_fields + cardinality(fields.f) - 1 - field.k - 1665)::integer,
        field.n::bigint
    from fields
    cross join unnest(fields.f) with ordinality as field (n, k)
    where field.n <> '' and field.n <> '0000000000000000'
    order by field.k desc;
$$;

comment on function mart_hist_unpack(numeric) is
'(bucket, bucket_count) of each non-empty bucket of a packed histogram, lowest bucket first.';

-- mart_hist_merge(packed): the histogram of all rows of a group = their sum.
create aggregate mart_hist_merge(numeric) (
    sfunc = numeric_add,
    stype = numeric,
    combinefunc = numeric_add,
    initcond = '0',
    parallel = safe
);

comment on aggregate mart_hist_merge(numeric) is
'Histogram of all rows of a group, from packed histograms (duration_histogram_packed): their '
'sum. mart_hist_quantile(mart_hist_merge(duration_histogram_packed), 0.95).';

-- Number of values in a packed histogram (null when empty, as for jsonb).
create function mart_hist_count(h numeric)
returns bigint
language sql
immutable
parallel safe
as $$
    select sum(u.bucket_count)::bigint from public.mart_hist_unpack(h) as u;
$$;

-- Several quantiles in one pass, percentile_cont's definition (the order statistics at floor and
-- ceil of q * (n - 1), interpolated), read from the bucket representatives; null when empty.
-- Bucket indexes are in value order, so the order statistics are located by index and only
-- those buckets' representatives are computed.
create function mart_hist_quantiles(h numeric, qs double precision [])
returns double precision []
language sql
immutable
parallel safe
set enable_nestloop = on
as $$
    with cumulated as materialized (
        select
            u.bucket,
            sum(u.bucket_count) over (
                order by u.bucket rows between unbounded preceding and current row
            ) as cum,
            sum(u.bucket_count) over () as total
        from public.mart_hist_unpack(h) as u
    ),

    wanted as (
        select q.ord, q.q * (max(c.total) - 1) as rank_pos
        from unnest(qs) with ordinality as q (q, ord)
        cross join cumulated as c
        group by q.ord, q.q
    ),

    located as (
        select
            w.ord,
            w.rank_pos,
            public.mart_hist_bucket_value(
                (select min(c.bucket) from cumulated as c where c.cum > floor(w.rank_pos))
            ) as value_lo,
            public.mart_hist_bucket_value(
                (select min(c.bucket) from cumulated as c where c.cum > ceil(w.rank_pos))
            ) as value_hi
        from wanted as w
    )

    select array_agg(
        l.value_lo + (l.rank_pos - floor(l.rank_pos)) * (l.value_hi - l.value_lo) order by l.ord
    )
    from located as l;
$$;

comment on function mart_hist_quantiles(numeric, double precision []) is
'Quantiles qs (each 0..1) of a packed histogram in one pass; relative error <= 1/128 against '
'percentile_cont for non-negative values; null for an empty histogram.';

-- Quantile q (0..1) of a packed histogram; a clear error for q outside [0, 1].
create function mart_hist_quantile(h numeric, q double precision)
returns double precision
language plpgsql
immutable
parallel safe
as $$
begin
    if h is null or q is null then
        return null;
    end if;
    if q < 0 or q > 1 then
        raise exception 'mart_hist_quantile: q must be between 0 and 1, got %', q
            using errcode = 'invalid_parameter_value';
    end if;
    return (public.mart_hist_quantiles(h, array[q]))[1];
end;
$$;

comment on function mart_hist_quantile(numeric, double precision) is
'Quantile of a packed latency histogram (percentile_cont definition); relative error <= 1/128 '
'for non-negative values: mart_hist_quantile(mart_hist_merge(duration_histogram_packed), 0.95).';

-- The two forms convert into each other exactly.
create function mart_hist_to_jsonb(h numeric)
returns jsonb
language sql
immutable
parallel safe
as $$
    select coalesce(jsonb_object_agg(u.bucket, u.bucket_count), '{}'::jsonb)
    from public.mart_hist_unpack(h) as u;
$$;

create function mart_hist_from_jsonb(h jsonb)
returns numeric
language sql
immutable
parallel safe
as $$
    select public.mart_hist_pack(array_agg(e.key::integer), array_agg(e.value::bigint))
    from jsonb_each_text(h) as e;
$$;

-- The jsonb aggregate collects its rows (array_append, in place) and adds them up once, at the
-- end, instead of re-aggregating its state at every row.
create function mart_hist_sum_jsonb(hs jsonb [])
returns jsonb
language sql
immutable
parallel safe
as $$
    select coalesce(jsonb_object_agg(totals.idx, totals.n), '{}'::jsonb)
    from (
        select (entries.e).key::integer as idx, sum((entries.e).value::bigint) as n
        from (select jsonb_each_text(hist.h) as e from unnest(hs) as hist (h)) as entries
        group by (entries.e).key::integer
    ) as totals;
$$;

drop aggregate mart_hist_merge(jsonb);

create aggregate mart_hist_merge(jsonb) (
    sfunc = array_append,
    stype = jsonb [],
    finalfunc = mart_hist_sum_jsonb,
    combinefunc = array_cat,
    initcond = '{}',
    parallel = safe
);

comment on aggregate mart_hist_merge(jsonb) is
'Histogram of all rows of a group, from jsonb histograms (duration_histogram). The packed '
'duration_histogram_packed columns merge much faster: mart_hist_merge(duration_histogram_packed).';

-- The explicit bucket boundaries the OpenTelemetry semantic conventions give for
-- mcp.server.operation.duration, in seconds (above the last one: +Inf).
create function mart_semconv_duration_bounds()
returns double precision []
language sql
immutable
parallel safe
as $$
    select '{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}'::double precision [];
$$;

-- Bucket (1..15) of a duration in integer milliseconds: bucket k holds bound(k-1) < v <=
-- bound(k), as OTLP explicit buckets and Prometheus' le do; v <= 10 ms is bucket 1, v > 300 s
-- bucket 15. width_bucket counts the bounds <= its operand, and v - 1 < b exactly when v <= b
-- for integers. Not STRICT, so the planner can inline it.
create function mart_semconv_duration_bucket(duration_ms bigint)
returns integer
language sql
immutable
parallel safe
as $$
    select width_bucket(
        duration_ms - 1,
        '{10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000}'::bigint []
    ) + 1;
$$;

-- The marts turn nested loops off for their transaction (mart_claim_dirty), and a function's
-- queries inherit it. A function whose query joins without a join clause (a cross join of
-- one-row CTEs, a lateral unnest) has no other plan; before PostgreSQL 18 the planner prices
-- such a disabled node at 1e10 instead of skipping the setting, and planning the function's
-- query per call turned mcp_error_class into 0.9 s a call on 15. This function keeps them (the
-- jsonb quantiles, which 122 defines, ask the packed ones and hold no query of their own).
alter function mcp_error_class(boolean, text) set enable_nestloop = on;

-- Marts built before this file get the columns their models now produce (dbt's
-- on_schema_change is `fail`), and every hour they hold is rebuilt on the next run (hours past
-- raw retention are consumed and keep null in the new columns).
do $$
begin
    if to_regclass('analytics.hourly_tool_usage_summary') is not null then
        alter table analytics.hourly_tool_usage_summary
        add column if not exists duration_histogram_packed numeric,
        add column if not exists operation_duration_buckets bigint [],
        add column if not exists operation_duration_sum_ms bigint [];
        insert into public.mart_dirty_buckets (mart, bucket)
        select distinct 'hourly_tool_usage_summary', s.hour
        from analytics.hourly_tool_usage_summary as s;
    end if;
    if to_regclass('analytics.daily_tool_usage_summary') is not null then
        alter table analytics.daily_tool_usage_summary
        add column if not exists duration_histogram_packed numeric,
        add column if not exists operation_duration_buckets bigint [],
        add column if not exists operation_duration_sum_ms bigint [];
    end if;
end;
$$;

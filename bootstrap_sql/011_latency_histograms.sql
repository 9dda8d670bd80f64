-- Mergeable latency histograms for the dbt marts (docs/dbt.md, "Percentiles over any window").
--
-- A percentile cannot be averaged from hourly percentiles, but histograms add up. The hourly
-- marts store a histogram of duration_ms as jsonb {"<bucket index>": count}; summing them gives
-- the histogram of any window, from which mart_hist_quantile reads a percentile.
--
-- Buckets are log-linear (HDR style) over integers: 0..127 each get their own bucket (exact);
-- above, every power of two [2^e, 2^(e+1)) is split into 64 equal sub-buckets of width
-- 2^(e-6). A bucket's representative value is the midpoint of the integers it holds, so it is
-- within (width - 1) / 2 < 2^(e-6) / 2 <= value / 128 of every value in it. Quantiles
-- interpolate between two order statistics with non-negative weights, so for non-negative data
-- |estimate - percentile_cont| <= percentile_cont / 128 (0.78 %). Negative values mirror the
-- positive buckets (index -1 - bucket(-v)).

-- floor(log2(v)) for v >= 1, exact: the float estimate is corrected by one either way.
create or replace function mart_hist_octave(v bigint)
returns integer
language sql
immutable
parallel safe
as $$
    select
        floor(ln(v::float8) / 0.6931471805599453)::integer
        - ((1::bigint << floor(ln(v::float8) / 0.6931471805599453)::integer) > v)::integer
        + ((2::bigint << floor(ln(v::float8) / 0.6931471805599453)::integer) <= v)::integer;
$$;

-- Bucket index of a value (not STRICT, so the planner can inline it into the marts' queries).
create or replace function mart_hist_bucket(v bigint)
returns integer
language sql
immutable
parallel safe
as $$
    select case
        when v is null then null
        when v >= 0 and v < 128 then v::integer
        when v >= 128 then
            (64 * (mart_hist_octave(v) - 6) + (v >> (mart_hist_octave(v) - 6)))::integer
        when v > -128 then (-1 - (-v))::integer
        else
            (-1 - (64 * (mart_hist_octave(-v) - 6) + ((-v) >> (mart_hist_octave(-v) - 6))))::integer
    end;
$$;

-- Representative value of a bucket: the midpoint of the integers it holds.
create or replace function mart_hist_bucket_value(idx integer)
returns double precision
language sql
immutable
parallel safe
as $$
    select case
        when idx is null then null
        when idx >= 0 and idx < 128 then idx::float8
        when idx >= 128 then
            ((idx - 64 * (idx / 64 - 1))::float8 * (1::bigint << (idx / 64 - 1))::float8)
            + ((1::bigint << (idx / 64 - 1)) - 1)::float8 / 2
        else -mart_hist_bucket_value(-1 - idx)
    end;
$$;

-- Sum of two histograms (the state function of mart_hist_merge).
create or replace function mart_hist_add(a jsonb, b jsonb)
returns jsonb
language sql
immutable
parallel safe
as $$
    select coalesce(jsonb_object_agg(kv.key, kv.total), '{}'::jsonb)
    from (
        select each.key, sum(each.value::bigint) as total
        from (
            select e.key, e.value from jsonb_each_text(coalesce(a, '{}'::jsonb)) as e
            union all
            select e.key, e.value from jsonb_each_text(coalesce(b, '{}'::jsonb)) as e
        ) as each
        group by each.key
    ) as kv;
$$;

-- mart_hist_merge(histogram): the histogram of all rows of a group (e.g. a day of hours).
create or replace aggregate mart_hist_merge(jsonb) (
    sfunc = mart_hist_add,
    stype = jsonb,
    combinefunc = mart_hist_add,
    initcond = '{}',
    parallel = safe
);

-- Number of values in a histogram.
create or replace function mart_hist_count(h jsonb)
returns bigint
language sql
immutable
parallel safe
as $$
    select sum(e.value::bigint)::bigint from jsonb_each_text(h) as e;
$$;

-- mart_hist_quantile(h, q), quantile q (0..1) with percentile_cont's definition (interpolating
-- between the order statistics at floor and ceil of q * (n - 1)) read from bucket
-- representatives, is defined by 122, which reads it through the packed form. Before the first
-- release this file defined a first body of it; a database that ran that text ends in the same
-- state (nothing calls it before 122).

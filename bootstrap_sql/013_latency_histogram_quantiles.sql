-- Several quantiles of one histogram in one pass (the daily marts read three per row):
-- mart_hist_quantiles(h, array[0.5, 0.95, 0.99]) = array of mart_hist_quantile(h, q), in order.
create or replace function mart_hist_quantiles(h jsonb, qs double precision [])
returns double precision []
language sql
immutable
parallel safe
as $$
    with buckets as (
        select mart_hist_bucket_value(e.key::integer) as v, e.value::bigint as n
        from jsonb_each_text(h) as e
    ),

    cumulated as (
        select
            v,
            sum(n) over (order by v rows between unbounded preceding and current row) as cum,
            sum(n) over () as total
        from buckets
    ),

    wanted as (
        select
            q.ord,
            q.q * (max(c.total) - 1) as rank_pos
        from unnest(qs) with ordinality as q (q, ord)
        cross join cumulated as c
        group by q.ord, q.q
    ),

    located as (
        select
            w.ord,
            w.rank_pos,
            (select min(c.v) from cumulated as c where c.cum > floor(w.rank_pos)) as value_lo,
            (select min(c.v) from cumulated as c where c.cum > ceil(w.rank_pos)) as value_hi
        from wanted as w
    )

    select array_agg(
        l.value_lo + (l.rank_pos - floor(l.rank_pos)) * (l.value_hi - l.value_lo) order by l.ord
    )
    from located as l;
$$;

comment on function mart_hist_quantiles(jsonb, double precision []) is
'Quantiles qs (each 0..1) of a latency histogram in one pass, same definition and error bound '
'as mart_hist_quantile; null for an empty histogram.';

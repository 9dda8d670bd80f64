-- Quantiles of a jsonb latency histogram read through its packed form (docs/dbt.md,
-- "Percentiles over any window"): one definition of a histogram's quantiles instead of three.
--
-- 011's mart_hist_quantile(jsonb, ...) and 013's mart_hist_quantiles(jsonb, ...) located the
-- order statistics in the jsonb's buckets with their own cumulative sums, a copy of what 105
-- did for packed histograms and 116/117 now do by arithmetic. The same buckets, representatives
-- and percentile_cont interpolation give the same values (tests/dbt/test_packed_quantiles.py
-- compares the two forms on random histograms over the whole bucket range), so the jsonb forms
-- convert (mart_hist_from_jsonb, exact) and ask the packed ones.
--
-- Before the first release 011 and 013 defined the jsonb functions themselves; a database that
-- ran those texts ends in the same state (nothing calls them between 013 and this file).

-- Bodies in standard SQL (RETURN): parsed when created, so the packed functions they call are
-- recorded as dependencies and cannot be dropped from under them.

-- STRICT: a null histogram or q is null, before q's range is checked, as before
-- (mart_hist_from_jsonb reads null as empty).
create or replace function mart_hist_quantile(h jsonb, q double precision)
returns double precision
language sql
immutable
strict
parallel safe
return public.mart_hist_quantile(public.mart_hist_from_jsonb(h), q);

comment on function mart_hist_quantile(jsonb, double precision) is
'Quantile of a latency histogram (percentile_cont definition); relative error <= 1/128 for '
'non-negative values. Merge hourly histograms first: mart_hist_quantile(mart_hist_merge(h), 0.95).';

create or replace function mart_hist_quantiles(h jsonb, qs double precision [])
returns double precision []
language sql
immutable
parallel safe
return public.mart_hist_quantiles(public.mart_hist_from_jsonb(h), qs);

comment on function mart_hist_quantiles(jsonb, double precision []) is
'Quantiles qs (each 0..1) of a latency histogram in one pass, same definition and error bound '
'as mart_hist_quantile; null for an empty histogram.';

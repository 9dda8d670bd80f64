{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['bcp_name', 'tool_name']},
        ],
    )
}}

-- The tools that got worse, and only those: per MCP server, its newest version against the one
-- before (comparison 'release'; versions ordered by their first call), and for every tool the
-- last 7 UTC days against the 7 before (comparison 'week_over_week'). A side's error rate is
-- its tool, server and transport errors over its calls without caller errors; it is a
-- regression when higher with a two-sided two-proportion z-test p-value below alpha. A side's
-- p95 comes from its merged latency histograms; it is a regression when above max_p95_ratio
-- times the one before. Both need min_calls calls on each side. Thresholds:
-- system_configuration analytics.regressions (mcp_regression_threshold()). Rebuilt whole on
-- every run from daily_tool_version_summary: a verdict covers each version's whole life, the
-- newest version is a property of every tool of the server, and the weeks move with the clock.

with

thresholds as (
    select
        {{ var('raw_schema', 'public') }}.mcp_regression_threshold('alpha') as alpha,
        {{ var('raw_schema', 'public') }}.mcp_regression_threshold('min_calls')::bigint as min_calls,
        {{ var('raw_schema', 'public') }}.mcp_regression_threshold('max_p95_ratio') as max_p95_ratio,
        date_trunc('day', now(), 'UTC') as as_of
),

version_days as (
    select
        version_summary.day,
        version_summary.bcp_name,
        version_summary.tool_name,
        version_summary.tool_version,
        version_summary.total_calls,
        version_summary.caller_error_calls,
        version_summary.tool_error_calls
        + version_summary.server_error_calls
        + version_summary.transport_error_calls as fault_error_calls,
        version_summary.duration_histogram,
        version_summary.first_called_at,
        version_summary.last_called_at
    from {{ ref('daily_tool_version_summary') }} as version_summary
),

-- each server's versions, newest first: ordered by their first call on any of its tools
server_versions as (
    select
        bcp_name,
        tool_version,
        row_number() over (
            partition by bcp_name
            order by min(first_called_at) desc, tool_version desc
        ) as recency
    from version_days
    where tool_version is not null
    group by bcp_name, tool_version
),

releases as (
    select
        newest.bcp_name,
        newest.tool_version as version,
        previous.tool_version as previous_version
    from server_versions as newest
    inner join server_versions as previous
        on newest.bcp_name = previous.bcp_name and previous.recency = 2
    where newest.recency = 1
),

-- the days on each side of each comparison: each day of a server's newest or previous version
-- for 'release', each of the last 14 UTC days for 'week_over_week' (this week: the 7 days
-- ending today; last week: the 7 before; in hours: UTC days); a day on no side has no row
sided_days as (
    select
        comparisons.comparison,
        comparisons.version,
        comparisons.previous_version,
        comparisons.side,
        version_days.bcp_name,
        version_days.tool_name,
        version_days.total_calls,
        version_days.caller_error_calls,
        version_days.fault_error_calls,
        version_days.duration_histogram,
        version_days.first_called_at,
        version_days.last_called_at,
        -- a number per side within its server (comparison, tool, side): the histograms'
        -- merge groups by the server and it, narrow rows that hash in memory, instead of
        -- sorting wide text keys on disk; per server, so that on Citus (docs/scale-out.md)
        -- the ranking runs on the server's shard
        dense_rank() over (
            partition by version_days.bcp_name
            order by comparisons.comparison, version_days.tool_name, comparisons.side
        ) as side_id
    from version_days
    cross join thresholds
    left join releases
        on version_days.bcp_name = releases.bcp_name
    cross join
        lateral (
            values
            (
                'release',
                releases.version,
                releases.previous_version,
                case
                    when version_days.tool_version = releases.version then 'after'
                    when version_days.tool_version = releases.previous_version then 'before'
                end
            ),
            (
                'week_over_week',
                null,
                null,
                case
                    when
                        version_days.day < thresholds.as_of - interval '312 hours'
                        or version_days.day > thresholds.as_of
                        then null
                    when version_days.day >= thresholds.as_of - interval '144 hours' then 'after'
                    else 'before'
                end
            )
        ) as comparisons (comparison, version, previous_version, side)
    where comparisons.side is not null
),

side_totals as (
    select
        comparison,
        bcp_name,
        tool_name,
        version,
        previous_version,
        side,
        side_id,
        sum(total_calls)::bigint as total_calls,
        sum(total_calls - caller_error_calls)::bigint as eligible_calls,
        sum(fault_error_calls)::bigint as fault_error_calls,
        min(first_called_at) as first_called_at,
        max(last_called_at) as last_called_at
    from sided_days
    group by comparison, bcp_name, tool_name, version, previous_version, side, side_id
),

-- histograms merged set-wise (one pass over all buckets), then the p95 of each side. (The
-- packed form's sum() costs more here: a few days per side, and unpacking each side's sum for
-- its quantile costs more than the jsonb merge saves; measured by bench_regressions.)
side_buckets as (
    select
        sided_days.bcp_name,
        sided_days.side_id,
        histogram_entry.key::integer as bucket_index,
        sum(histogram_entry.value::bigint) as bucket_count
    from sided_days
    cross join lateral jsonb_each_text(sided_days.duration_histogram) as histogram_entry
    group by sided_days.bcp_name, sided_days.side_id, histogram_entry.key::integer
),

side_latency as (
    select
        bcp_name,
        side_id,
        {{ var('raw_schema', 'public') }}.mart_hist_quantile(
            jsonb_object_agg(bucket_index, bucket_count), 0.95
        ) as p95_duration_ms
    from side_buckets
    group by bcp_name, side_id
),

sides as (
    select
        side_totals.comparison,
        side_totals.bcp_name,
        side_totals.tool_name,
        side_totals.version,
        side_totals.previous_version,
        side_totals.side,
        side_totals.total_calls,
        side_totals.eligible_calls,
        side_totals.fault_error_calls,
        side_totals.first_called_at,
        side_totals.last_called_at,
        side_latency.p95_duration_ms
    from side_totals
    inner join side_latency
        on
            side_totals.bcp_name = side_latency.bcp_name
            and side_totals.side_id = side_latency.side_id
),

-- both sides of a comparison on one row (a tool without calls on one side is not compared)
compared as (
    select
        after_side.comparison,
        after_side.bcp_name,
        after_side.tool_name,
        after_side.version::varchar(256) as version,
        after_side.previous_version::varchar(256) as previous_version,
        before_side.total_calls as before_total_calls,
        after_side.total_calls as after_total_calls,
        before_side.eligible_calls as before_eligible_calls,
        after_side.eligible_calls as after_eligible_calls,
        before_side.fault_error_calls as before_error_calls,
        after_side.fault_error_calls as after_error_calls,
        before_side.p95_duration_ms as before_p95_ms,
        after_side.p95_duration_ms as after_p95_ms,
        before_side.first_called_at as before_first_called_at,
        before_side.last_called_at as before_last_called_at,
        after_side.first_called_at as after_first_called_at,
        after_side.last_called_at as after_last_called_at
    from sides as after_side
    inner join sides as before_side
        on
            {{ mart_join_keys('after_side', 'before_side', ['comparison', 'bcp_name', 'tool_name']) }}
            and before_side.side = 'before'
    where after_side.side = 'after'
)

-- the comparisons that got worse: a row per metric that did
select
    compared.comparison,
    compared.bcp_name,
    compared.tool_name,
    regressed.metric,
    compared.version,
    compared.previous_version,
    regressed.before_value,
    regressed.after_value,
    regressed.ratio,
    regressed.p_value,
    regressed.threshold,
    regressed.calls_before,
    regressed.calls_after,
    regressed.errors_before,
    regressed.errors_after,
    compared.before_first_called_at,
    compared.before_last_called_at,
    compared.after_first_called_at,
    compared.after_last_called_at,
    thresholds.min_calls,
    thresholds.as_of,
    now() as refreshed_at
from compared
cross join thresholds
-- each metric's row only where it regressed (correlated: its filters read the comparison)
cross join
    lateral (  -- noqa: ST05
        select
            'error_rate' as metric,
            round(compared.before_error_calls::numeric / compared.before_eligible_calls, 6)
                as before_value,
            round(compared.after_error_calls::numeric / compared.after_eligible_calls, 6)
                as after_value,
            -- one division of whole numbers: correctly rounded, ties included
            round(
                (compared.after_error_calls * compared.before_eligible_calls)::numeric
                / nullif(compared.before_error_calls * compared.after_eligible_calls, 0),
                6
            ) as ratio,
            {{ var('raw_schema', 'public') }}.mcp_two_proportion_p_value(
                compared.before_error_calls,
                compared.before_eligible_calls,
                compared.after_error_calls,
                compared.after_eligible_calls
            ) as p_value,
            thresholds.alpha as threshold,
            compared.before_eligible_calls as calls_before,
            compared.after_eligible_calls as calls_after,
            compared.before_error_calls as errors_before,
            compared.after_error_calls as errors_after
        where
            compared.before_eligible_calls >= thresholds.min_calls
            and compared.after_eligible_calls >= thresholds.min_calls
            -- higher (compared exactly, without division), and beyond noise
            and compared.after_error_calls * compared.before_eligible_calls
            > compared.before_error_calls * compared.after_eligible_calls
            and {{ var('raw_schema', 'public') }}.mcp_two_proportion_p_value(
                compared.before_error_calls,
                compared.before_eligible_calls,
                compared.after_error_calls,
                compared.after_eligible_calls
            ) < thresholds.alpha
        union all
        select
            'p95_duration_ms' as metric,
            round(compared.before_p95_ms::numeric, 3) as before_value,
            round(compared.after_p95_ms::numeric, 3) as after_value,
            round((compared.after_p95_ms / compared.before_p95_ms)::numeric, 6) as ratio,
            null::double precision as p_value,
            thresholds.max_p95_ratio as threshold,
            compared.before_total_calls as calls_before,
            compared.after_total_calls as calls_after,
            null::bigint as errors_before,
            null::bigint as errors_after
        where
            compared.before_total_calls >= thresholds.min_calls
            and compared.after_total_calls >= thresholds.min_calls
            -- a p95 of 0 ms has no ratio: not a regression whatever follows
            and compared.before_p95_ms > 0
            and compared.after_p95_ms > thresholds.max_p95_ratio * compared.before_p95_ms
    ) as regressed

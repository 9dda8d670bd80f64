{{ config(meta={'dagster': {'ref': {'name': 'daily_tool_usage_summary'}}}) }}

-- Percentiles from merged hourly histograms are within 1/128 of the exact percentile_cont
-- (plus 1 for the integer rounding of both sides), over the days this build checks
-- (mart_exactness_checked).
{% set checked = mart_exactness_checked(
    ref('daily_tool_usage_summary'), 'day', 'tool_usage_logs',
    ['hourly_tool_usage_summary', 'daily_tool_usage_summary']) %}
with exact as (
    select
        date_trunc('day', calls."timestamp", 'UTC') as day,
        calls.bcp_name,
        calls.tool_name,
        calls.operation,
        percentile_cont(0.5) within group (order by calls.duration_ms) as exact_median,
        percentile_cont(0.95) within group (order by calls.duration_ms) as exact_p95,
        percentile_cont(0.99) within group (order by calls.duration_ms) as exact_p99
    from {{ source('mcp', 'tool_usage_logs') }} as calls
    where calls."timestamp" is not null and {{ mart_exactness_where('calls."timestamp"', checked) }}
    group by 1, 2, 3, 4
),

daily as (
    select
        day,
        bcp_name,
        tool_name,
        operation,
        median_duration_ms,
        p95_duration_ms,
        p99_duration_ms
    from {{ ref('daily_tool_usage_summary') }}
    where {{ mart_exactness_where('day', checked) }}
)

select
    daily.day,
    daily.bcp_name,
    daily.tool_name,
    daily.operation,
    daily.median_duration_ms,
    exact.exact_median,
    daily.p95_duration_ms,
    exact.exact_p95,
    daily.p99_duration_ms,
    exact.exact_p99
from daily
left join exact
    on {{ mart_join_keys('daily', 'exact', ['day', 'bcp_name', 'tool_name', 'operation']) }}
where
    exact.day is null
    or abs(daily.median_duration_ms - exact.exact_median) > abs(exact.exact_median) / 128 + 1
    or abs(daily.p95_duration_ms - exact.exact_p95) > abs(exact.exact_p95) / 128 + 1
    or abs(daily.p99_duration_ms - exact.exact_p99) > abs(exact.exact_p99) / 128 + 1

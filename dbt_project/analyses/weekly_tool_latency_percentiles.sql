-- Weekly latency percentiles per tool from the daily histograms, without reading raw rows
-- (`dbt compile --select weekly_tool_latency_percentiles`, then run the compiled SQL).
-- UTC weeks are whole UTC days, so the daily rows suffice; packed histograms add up with sum().
-- Relative error <= 1/128 of the exact percentile_cont (docs/dbt.md).
with weekly as (
    select
        date_trunc('week', daily.day, 'UTC') as week_start,
        daily.bcp_name,
        daily.tool_name,
        sum(daily.total_calls) as total_calls,
        sum(daily.duration_histogram_packed) as histogram
    from {{ ref('daily_tool_usage_summary') }} as daily
    group by date_trunc('week', daily.day, 'UTC'), daily.bcp_name, daily.tool_name
),

percentiles as (
    select
        week_start,
        bcp_name,
        tool_name,
        total_calls,
        {{ var('raw_schema', 'public') }}.mart_hist_quantiles(
            histogram, array[0.5, 0.95, 0.99]
        ) as quantiles
    from weekly
)

select
    week_start,
    bcp_name,
    tool_name,
    total_calls,
    quantiles[1] as median_duration_ms,
    quantiles[2] as p95_duration_ms,
    quantiles[3] as p99_duration_ms
from percentiles
order by week_start, bcp_name, tool_name

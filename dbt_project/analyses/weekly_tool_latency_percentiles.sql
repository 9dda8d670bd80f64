-- Weekly latency percentiles per tool from the hourly histograms, without reading raw rows
-- (`dbt compile --select weekly_tool_latency_percentiles`, then run the compiled SQL).
-- Relative error <= 1/128 of the exact percentile_cont (docs/dbt.md).
with weekly as (
    select
        date_trunc('week', hourly.hour, 'UTC') as week_start,
        hourly.bcp_name,
        hourly.tool_name,
        sum(hourly.total_calls) as total_calls,
        {{ var('raw_schema', 'public') }}.mart_hist_merge(hourly.duration_histogram) as histogram
    from {{ ref('hourly_tool_usage_summary') }} as hourly
    group by date_trunc('week', hourly.hour, 'UTC'), hourly.bcp_name, hourly.tool_name
)

select
    week_start,
    bcp_name,
    tool_name,
    total_calls,
    {{ var('raw_schema', 'public') }}.mart_hist_quantile(histogram, 0.5) as median_duration_ms,
    {{ var('raw_schema', 'public') }}.mart_hist_quantile(histogram, 0.95) as p95_duration_ms,
    {{ var('raw_schema', 'public') }}.mart_hist_quantile(histogram, 0.99) as p99_duration_ms
from weekly
order by week_start, bcp_name, tool_name

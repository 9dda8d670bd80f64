{{ config(meta={'dagster': {'ref': {'name': 'performance_metrics_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('performance_metrics_summary'), 'time_bucket', 'performance_metrics',
    ['performance_metrics_summary'], grain='day') %}
{% set reference %}
    select
        metric_name,
        aggregation_period,
        date_trunc(
            case
                when aggregation_period = '1m' then 'minute'
                when aggregation_period = '1h' then 'hour'
                when aggregation_period = '1d' then 'day'
                else 'hour'
            end,
            "timestamp",
            'UTC'
        ) as time_bucket,
        avg(metric_value) as avg_value,
        min(metric_value) as min_value,
        max(metric_value) as max_value,
        percentile_cont(0.95) within group (order by metric_value) as p95_value,
        count(*) as sample_count,
        stddev(metric_value) as stddev_value
    -- whole days: a '1d' sample's bucket is its day
    from {{ source('mcp', 'performance_metrics') }}
    where "timestamp" is not null and {{ mart_exactness_where('"timestamp"', checked) }}
    group by 1, 2, 3
{% endset %}

{{ mart_matches_reference(
    ref('performance_metrics_summary'),
    ['metric_name', 'aggregation_period', 'time_bucket', 'avg_value', 'min_value', 'max_value',
     'p95_value', 'sample_count', 'stddev_value'],
    reference, checked) }}

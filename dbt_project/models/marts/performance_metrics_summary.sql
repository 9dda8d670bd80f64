{{
    config(
        incremental_strategy='dirty_buckets',
        incremental_predicates=[
            "(
                (
                    dbt_internal_dest.aggregation_period <> '1d'
                    and date_trunc('hour', dbt_internal_dest.time_bucket, 'UTC')
                    in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)
                )
                or (
                    dbt_internal_dest.aggregation_period = '1d'
                    and dbt_internal_dest.time_bucket
                    in (select date_trunc('day', rebuilt.bucket, 'UTC') from pg_temp.mart_rebuild as rebuilt)
                )
            )"
        ],
        full_refresh=mart_full_refresh(),
        meta={'ledger_sources': ['performance_metrics']},
        indexes=[
            {'columns': ['time_bucket', 'metric_name', 'aggregation_period']},
        ],
        pre_hook="{{ mart_claim_dirty('performance_metrics', grain='hour') }}",
        post_hook="{{ mart_release_dirty('time_bucket', retention_days=730) }}",
    )
}}

-- The seed's performance_metrics_summary over the whole history (buckets in UTC): minute
-- buckets for '1m', day buckets for '1d', hour buckets otherwise. A dirty hour rebuilds its
-- own minute/hour buckets and, for '1d' samples, its whole day.

with

samples_in_scope as (
    select
        metric_samples.metric_name,
        metric_samples.aggregation_period,
        metric_samples.metric_value,
        metric_samples.measured_at
    {{ mart_rows_to_rebuild(
        ref('stg_mcp__performance_metrics'), 'metric_samples', 'measured_at', 'hour',
        condition="metric_samples.aggregation_period <> '1d'"
    ) }}
    union all
    select
        metric_samples.metric_name,
        metric_samples.aggregation_period,
        metric_samples.metric_value,
        metric_samples.measured_at
    from {{ ref('stg_mcp__performance_metrics') }} as metric_samples
    where
        metric_samples.aggregation_period = '1d'
        {% if is_incremental() %}
            and {{ mart_rebuild_bounds('metric_samples.measured_at', 'hour', truncate_to='day') }}
            and date_trunc('day', metric_samples.measured_at, 'UTC') in (
                select date_trunc('day', rebuilt.bucket, 'UTC')
                from pg_temp.mart_rebuild as rebuilt
            )
        {% endif %}
),

samples as (
    select
        metric_name,
        aggregation_period,
        {{ mart_metric_time_bucket('aggregation_period', 'measured_at') }} as time_bucket,
        metric_value
    from samples_in_scope
    where measured_at is not null
)

select
    metric_name,
    aggregation_period,
    time_bucket,
    avg(metric_value) as avg_value,
    min(metric_value) as min_value,
    max(metric_value) as max_value,
    percentile_cont(0.95) within group (order by metric_value) as p95_value,
    count(*) as sample_count,
    stddev(metric_value) as stddev_value,
    now() as refreshed_at
from samples
group by metric_name, aggregation_period, time_bucket

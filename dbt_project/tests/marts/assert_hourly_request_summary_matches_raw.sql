{{ config(meta={'dagster': {'ref': {'name': 'hourly_request_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('hourly_request_summary'), 'hour', 'mcp_request_logs', ['hourly_request_summary']) %}
{% set reference %}
    with per_group as (
        select
            date_trunc('hour', "timestamp", 'UTC') as hour,
            method,
            path,
            count(*) as total_requests,
            count(*) filter (where success) as successful_requests,
            count(*) filter (where not success) as failed_requests,
            count(*) filter (where response_status_code / 100 = 2) as status_2xx_count,
            count(*) filter (where response_status_code / 100 = 3) as status_3xx_count,
            count(*) filter (where response_status_code / 100 = 4) as status_4xx_count,
            count(*) filter (where response_status_code / 100 = 5) as status_5xx_count,
            count(*) filter (
                where response_status_code not between 200 and 599
            ) as status_other_count,
            avg(duration_ms)::integer as avg_duration_ms,
            percentile_cont(0.5) within group (order by duration_ms)::integer as median_duration_ms,
            percentile_cont(0.95) within group (order by duration_ms)::integer as p95_duration_ms,
            percentile_cont(0.99) within group (order by duration_ms)::integer as p99_duration_ms,
            max(duration_ms) as max_duration_ms,
            min(duration_ms) as min_duration_ms,
            count(distinct user_id) as unique_users,
            count(distinct session_id) as unique_sessions
        from {{ source('mcp', 'mcp_request_logs') }}
        where "timestamp" is not null and {{ mart_exactness_where('"timestamp"', checked) }}
        group by 1, 2, 3
    ),

    per_error_type as (
        select
            date_trunc('hour', "timestamp", 'UTC') as hour,
            method,
            path,
            error_type,
            count(*) as error_type_count
        from {{ source('mcp', 'mcp_request_logs') }}
        where
            "timestamp" is not null and error_type is not null
            and {{ mart_exactness_where('"timestamp"', checked) }}
        group by 1, 2, 3, 4
    ),

    error_types as (
        select hour, method, path, jsonb_object_agg(error_type, error_type_count) as counts
        from per_error_type
        group by 1, 2, 3
    )

    select
        per_group.hour,
        per_group.method,
        per_group.path,
        per_group.total_requests,
        per_group.successful_requests,
        per_group.failed_requests,
        per_group.status_2xx_count,
        per_group.status_3xx_count,
        per_group.status_4xx_count,
        per_group.status_5xx_count,
        per_group.status_other_count,
        coalesce(error_types.counts, '{}'::jsonb) as error_type_counts,
        per_group.avg_duration_ms,
        per_group.median_duration_ms,
        per_group.p95_duration_ms,
        per_group.p99_duration_ms,
        per_group.max_duration_ms,
        per_group.min_duration_ms,
        per_group.unique_users,
        per_group.unique_sessions
    from per_group
    left join error_types
        on {{ mart_join_keys('per_group', 'error_types', ['hour', 'method', 'path']) }}
{% endset %}

{{ mart_matches_reference(
    ref('hourly_request_summary'), mart_reference_columns(reference), reference, checked) }}

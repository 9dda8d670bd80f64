{{ config(meta={'dagster': {'ref': {'name': 'hourly_tool_usage_summary'}}}) }}

{% set reference %}
    select
        date_trunc('hour', "timestamp", 'UTC') as hour,
        bcp_name,
        tool_name,
        operation,
        count(*) as total_calls,
        count(*) filter (where success = true) as successful_calls,
        count(*) filter (where success = false) as failed_calls,
        count(*) filter (where error_class = 'tool_error') as tool_error_calls,
        count(*) filter (where error_class = 'caller_error') as caller_error_calls,
        count(*) filter (where error_class = 'server_error') as server_error_calls,
        count(*) filter (where error_class = 'transport_error') as transport_error_calls,
        avg(duration_ms)::integer as avg_duration_ms,
        percentile_cont(0.5) within group (order by duration_ms)::integer as median_duration_ms,
        percentile_cont(0.95) within group (order by duration_ms)::integer as p95_duration_ms,
        max(duration_ms) as max_duration_ms,
        min(duration_ms) as min_duration_ms,
        avg(response_size_bytes)::integer as avg_response_size,
        count(distinct user_id) as unique_users,
        count(distinct session_id) as unique_sessions
    from (
        -- the class as stored at ingest, else by the same rule in SQL (bootstrap_sql/080)
        select
            raw_calls."timestamp",
            raw_calls.bcp_name,
            raw_calls.tool_name,
            raw_calls.operation,
            raw_calls.success,
            raw_calls.duration_ms,
            raw_calls.response_size_bytes,
            raw_calls.user_id,
            raw_calls.session_id,
            coalesce(
                raw_calls.error_class,
                {{ var('raw_schema', 'public') }}.mcp_error_class(raw_calls.success, raw_calls.error_code)
            ) as error_class
        from {{ source('mcp', 'tool_usage_logs') }} as raw_calls {{ mart_exactness_join('raw_calls."timestamp"', 'hour') }}
    ) as calls
    where "timestamp" is not null
    group by 1, 2, 3, 4
{% endset %}

{{ mart_matches_reference(
    ref('hourly_tool_usage_summary'),
    ['hour', 'bcp_name', 'tool_name', 'operation', 'total_calls', 'successful_calls',
     'failed_calls', 'tool_error_calls', 'caller_error_calls', 'server_error_calls',
     'transport_error_calls', 'avg_duration_ms', 'median_duration_ms', 'p95_duration_ms',
     'max_duration_ms', 'min_duration_ms', 'avg_response_size', 'unique_users',
     'unique_sessions'],
    reference, 'hour', 'tool_usage_logs', ['hourly_tool_usage_summary']) }}

{{ config(meta={'dagster': {'ref': {'name': 'hourly_tool_usage_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('hourly_tool_usage_summary'), 'hour', 'tool_usage_logs', ['hourly_tool_usage_summary']) %}
{{ mart_matches_reference(
    ref('hourly_tool_usage_summary'),
    ['hour', 'bcp_name', 'tool_name', 'operation', 'total_calls', 'successful_calls',
     'failed_calls', 'tool_error_calls', 'caller_error_calls', 'server_error_calls',
     'transport_error_calls', 'avg_duration_ms', 'median_duration_ms', 'p95_duration_ms',
     'max_duration_ms', 'min_duration_ms', 'avg_response_size', 'unique_users',
     'unique_sessions'],
    mart_reference_tool_usage(checked), checked) }}

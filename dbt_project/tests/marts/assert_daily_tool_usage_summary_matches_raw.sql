{{ config(meta={'dagster': {'ref': {'name': 'daily_tool_usage_summary'}}}) }}

-- Exact columns only; the percentiles are checked against their error bound in
-- assert_daily_tool_usage_percentiles_within_bound.
{% set checked = mart_exactness_checked(
    ref('daily_tool_usage_summary'), 'day', 'tool_usage_logs',
    ['hourly_tool_usage_summary', 'daily_tool_usage_summary']) %}
{{ mart_matches_reference(
    ref('daily_tool_usage_summary'),
    ['day', 'bcp_name', 'tool_name', 'operation', 'total_calls', 'successful_calls',
     'failed_calls', 'tool_error_calls', 'caller_error_calls', 'server_error_calls',
     'transport_error_calls', 'avg_duration_ms', 'max_duration_ms', 'min_duration_ms',
     'avg_response_size', 'unique_users', 'unique_sessions'],
    mart_reference_tool_usage(checked, percentiles=false), checked) }}

{#-
    The tool usage summary recomputed from the raw calls, per UTC hour or day (the grain of
    `checked`, mart_exactness_checked), bcp_name, tool_name and operation, over what it compares: the
    columns of hourly_tool_usage_summary and daily_tool_usage_summary, with the exact median
    and p95 when `percentiles` (the daily mart merges histograms: its percentiles have their
    own bounded check).
-#}
{% macro mart_reference_tool_usage(checked, percentiles=true) %}
    {%- set grain = checked.grain -%}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            'mart_reference_tool_usage: checked must be what mart_exactness_checked returns, got '
            ~ checked) }}
    {%- endif -%}
    select
        date_trunc('{{ grain }}', calls."timestamp", 'UTC') as {{ grain }},
        calls.bcp_name,
        calls.tool_name,
        calls.operation,
        count(*) as total_calls,
        count(*) filter (where calls.success) as successful_calls,
        count(*) filter (where not calls.success) as failed_calls,
        {{ mart_error_class_counts('calls.error_class') }},
        avg(calls.duration_ms)::integer as avg_duration_ms,
        {% if percentiles -%}
        percentile_cont(0.5) within group (order by calls.duration_ms)::integer
            as median_duration_ms,
        percentile_cont(0.95) within group (order by calls.duration_ms)::integer
            as p95_duration_ms,
        {% endif -%}
        max(calls.duration_ms) as max_duration_ms,
        min(calls.duration_ms) as min_duration_ms,
        avg(calls.response_size_bytes)::integer as avg_response_size,
        count(distinct calls.user_id) as unique_users,
        count(distinct calls.session_id) as unique_sessions
    from (
        {{ mart_reference_tool_calls(
            ['"timestamp"', 'bcp_name', 'tool_name', 'operation', 'success', 'duration_ms',
             'response_size_bytes', 'user_id', 'session_id'], checked) }}
    ) as calls
    group by 1, 2, 3, 4
{% endmacro %}

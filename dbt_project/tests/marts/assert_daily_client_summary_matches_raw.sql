{{ config(meta={'dagster': {'ref': {'name': 'daily_client_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('daily_client_summary'), 'day', 'tool_usage_logs', ['daily_client_summary']) %}
{% set reference %}
    select
        date_trunc('day', calls."timestamp", 'UTC') as day,
        calls.bcp_name,
        calls.client_name,
        calls.client_version,
        calls.protocol_version,
        calls.transport,
        calls.protocol_version < '2026-07-28' as is_pre_2026_07_28_protocol,
        count(*) as total_calls,
        count(*) filter (where calls.success) as successful_calls,
        count(*) filter (where not calls.success) as failed_calls,
        {{ mart_error_class_counts('calls.error_class') }},
        avg(calls.duration_ms)::integer as avg_duration_ms,
        percentile_cont(0.95) within group (order by calls.duration_ms)::integer
            as p95_duration_ms,
        count(distinct calls.session_id) as unique_sessions,
        min(calls."timestamp") as first_seen_at,
        max(calls."timestamp") as last_seen_at
    from (
        {{ mart_reference_tool_calls(
            ['"timestamp"', 'bcp_name', 'client_name', 'client_version', 'protocol_version',
             'transport', 'success', 'duration_ms', 'session_id'], checked) }}
    ) as calls
    group by 1, 2, 3, 4, 5, 6
{% endset %}

{{ mart_matches_reference(
    ref('daily_client_summary'), mart_reference_columns(reference), reference, checked) }}

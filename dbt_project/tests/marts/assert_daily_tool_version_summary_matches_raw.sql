{{ config(meta={'dagster': {'ref': {'name': 'daily_tool_version_summary'}}}) }}

{% set raw_schema = var('raw_schema', 'public') %}
{% set checked = mart_exactness_checked(
    ref('daily_tool_version_summary'), 'day', 'tool_usage_logs', ['daily_tool_version_summary']) %}
{% set reference %}
    select
        calls.day,
        calls.bcp_name,
        calls.tool_name,
        calls.tool_version,
        sum(calls.bucket_calls) as total_calls,
        sum(calls.failed_calls) as failed_calls,
        sum(calls.tool_error_calls) as tool_error_calls,
        sum(calls.caller_error_calls) as caller_error_calls,
        sum(calls.server_error_calls) as server_error_calls,
        sum(calls.transport_error_calls) as transport_error_calls,
        sum(calls.sum_duration_ms) as sum_duration_ms,
        {{ raw_schema }}.mart_hist_quantile(
            jsonb_object_agg(calls.bucket_index, calls.bucket_calls), 0.95
        )::integer as p95_duration_ms,
        jsonb_object_agg(calls.bucket_index, calls.bucket_calls) as duration_histogram,
        {{ raw_schema }}.mart_hist_pack(
            array_agg(calls.bucket_index), array_agg(calls.bucket_calls)
        ) as duration_histogram_packed,
        min(calls.first_called_at) as first_called_at,
        max(calls.last_called_at) as last_called_at
    from (
        select
            date_trunc('day', raw_calls."timestamp", 'UTC') as day,
            raw_calls.bcp_name,
            raw_calls.tool_name,
            raw_calls.tool_version,
            {{ raw_schema }}.mart_hist_bucket(raw_calls.duration_ms) as bucket_index,
            count(*) as bucket_calls,
            count(*) filter (where not raw_calls.success) as failed_calls,
            count(*) filter (where classified.error_class = 'tool_error') as tool_error_calls,
            count(*) filter (where classified.error_class = 'caller_error') as caller_error_calls,
            count(*) filter (where classified.error_class = 'server_error') as server_error_calls,
            count(*) filter (where classified.error_class = 'transport_error')
                as transport_error_calls,
            sum(raw_calls.duration_ms) as sum_duration_ms,
            min(raw_calls."timestamp") as first_called_at,
            max(raw_calls."timestamp") as last_called_at
        from {{ source('mcp', 'tool_usage_logs') }} as raw_calls
        cross join lateral (
            select coalesce(
                raw_calls.error_class,
                {{ raw_schema }}.mcp_error_class(raw_calls.success, raw_calls.error_code)
            ) as error_class
        ) as classified
        where
            raw_calls."timestamp" is not null
            and {{ mart_exactness_where('raw_calls."timestamp"', checked) }}
        group by 1, 2, 3, 4, 5
    ) as calls
    group by 1, 2, 3, 4
{% endset %}

{{ mart_matches_reference(
    ref('daily_tool_version_summary'), mart_reference_columns(reference), reference, checked) }}

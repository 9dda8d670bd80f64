{{
    config(
        indexes=[
            {'columns': ['hour', 'bcp_name', 'tool_name', 'operation'], 'unique': true},
        ],
        **mart_dirty_buckets_config('hour', 'tool_usage_logs', retention_days=730)
    )
}}

-- The seed's hourly_tool_usage_summary over the whole history (hours in UTC), plus the failed
-- calls by error class, and the sums and the latency histograms that make days and weeks
-- computable from hours: jsonb and packed (bootstrap_sql/011, 105), and the counts in the
-- semantic conventions' buckets of mcp.server.operation.duration per error class.
{%- set error_classes = ['ok', 'tool_error', 'caller_error', 'server_error', 'transport_error'] %}
{%- set raw_schema = var('raw_schema', 'public') %}
{%- set grain = ['hour', 'bcp_name', 'tool_name', 'operation'] %}

with

tool_calls as (
    {{ mart_source_rows(
        ref('stg_mcp__tool_usage_logs'), 'calls', 'called_at', 'hour',
        ['bcp_name', 'tool_name', 'operation', 'is_success', 'error_class', 'duration_ms',
         raw_schema ~ '.mart_semconv_duration_bucket(calls.duration_ms) as semconv_bucket',
         'response_size_bytes', 'user_id', 'session_id']) }}
),

call_stats as (
    select
        {{ grain | join(', ') }},
        {{ mart_success_counts('calls') }},
        {{ mart_error_class_counts() }},
        {{ mart_duration_stats([0.5, 0.95]) }},
        avg(response_size_bytes)::integer as avg_response_size,
        count(distinct user_id) as unique_users,
        count(distinct session_id) as unique_sessions,
        sum(duration_ms::bigint) as sum_duration_ms,
        sum(response_size_bytes::bigint) as sum_response_size_bytes,
        count(response_size_bytes) as response_size_count,
        -- [error class][semantic-conventions bucket], classes in the order above
        -- noqa: disable=LT01,LT02
        array[
            {%- for error_class in error_classes %}
            array[
                {%- for bucket in range(1, 16) %}
                count(*) filter (
                    where error_class = '{{ error_class }}' and semconv_bucket = {{ bucket }}
                ){{ ',' if not loop.last }}
                {%- endfor %}
            ]{{ ',' if not loop.last }}
            {%- endfor %}
        ]::bigint [] as operation_duration_buckets,
        array[
            {%- for error_class in error_classes %}
            coalesce(sum(duration_ms::bigint) filter (where error_class = '{{ error_class }}'), 0)
            {{- ',' if not loop.last }}
            {%- endfor %}
        ]::bigint [] as operation_duration_sum_ms
        -- noqa: enable=LT01,LT02
    from tool_calls
    group by {{ grain | join(', ') }}
),

duration_histograms as (
    {{ mart_histogram_cte('tool_calls', grain, 'duration_ms', packed=true) }}
)

select
    call_stats.hour,
    call_stats.bcp_name,
    call_stats.tool_name,
    call_stats.operation,
    call_stats.total_calls,
    call_stats.successful_calls,
    call_stats.failed_calls,
    call_stats.tool_error_calls,
    call_stats.caller_error_calls,
    call_stats.server_error_calls,
    call_stats.transport_error_calls,
    call_stats.avg_duration_ms,
    call_stats.median_duration_ms,
    call_stats.p95_duration_ms,
    call_stats.max_duration_ms,
    call_stats.min_duration_ms,
    call_stats.avg_response_size,
    call_stats.unique_users,
    call_stats.unique_sessions,
    call_stats.sum_duration_ms,
    call_stats.sum_response_size_bytes,
    call_stats.response_size_count,
    duration_histograms.histogram as duration_histogram,
    duration_histograms.histogram_packed as duration_histogram_packed,
    call_stats.operation_duration_buckets,
    call_stats.operation_duration_sum_ms,
    now() as refreshed_at
from call_stats
inner join duration_histograms
    on {{ mart_join_keys('call_stats', 'duration_histograms', grain) }}

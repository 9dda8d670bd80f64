{{
    config(
        incremental_strategy='dirty_buckets',
        incremental_predicates=[
            "dbt_internal_dest.hour in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)"
        ],
        full_refresh=mart_full_refresh(),
        meta={'ledger_sources': ['tool_usage_logs']},
        indexes=[
            {'columns': ['hour', 'bcp_name', 'tool_name', 'operation'], 'unique': true},
        ],
        pre_hook="{{ mart_claim_dirty('tool_usage_logs', grain='hour') }}",
        post_hook="{{ mart_release_dirty('hour', retention_days=730) }}",
    )
}}

-- The seed's hourly_tool_usage_summary over the whole history (hours in UTC), plus the failed
-- calls by error class, and the sums and the latency histogram that make days and weeks
-- computable from hours.

with

tool_calls as (
    select
        date_trunc('hour', calls.called_at, 'UTC') as hour,
        calls.bcp_name,
        calls.tool_name,
        calls.operation,
        calls.is_success,
        calls.error_class,
        calls.duration_ms,
        calls.response_size_bytes,
        calls.user_id,
        calls.session_id
    {{ mart_rows_to_rebuild(ref('stg_mcp__tool_usage_logs'), 'calls', 'called_at', 'hour') }}
),

call_stats as (
    select
        hour,
        bcp_name,
        tool_name,
        operation,
        count(*) as total_calls,
        count(*) filter (where is_success = true) as successful_calls,
        count(*) filter (where is_success = false) as failed_calls,
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
        count(distinct session_id) as unique_sessions,
        sum(duration_ms::bigint) as sum_duration_ms,
        sum(response_size_bytes::bigint) as sum_response_size_bytes,
        count(response_size_bytes) as response_size_count
    from tool_calls
    group by hour, bcp_name, tool_name, operation
),

duration_histograms as (
    {{ mart_histogram_cte('tool_calls', ['hour', 'bcp_name', 'tool_name', 'operation'], 'duration_ms') }}
),

final as (
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
        now() as refreshed_at
    from call_stats
    inner join duration_histograms
        on
            call_stats.hour = duration_histograms.hour
            and call_stats.bcp_name = duration_histograms.bcp_name
            and call_stats.tool_name = duration_histograms.tool_name
            and call_stats.operation = duration_histograms.operation
)

select
    hour,
    bcp_name,
    tool_name,
    operation,
    total_calls,
    successful_calls,
    failed_calls,
    tool_error_calls,
    caller_error_calls,
    server_error_calls,
    transport_error_calls,
    avg_duration_ms,
    median_duration_ms,
    p95_duration_ms,
    max_duration_ms,
    min_duration_ms,
    avg_response_size,
    unique_users,
    unique_sessions,
    sum_duration_ms,
    sum_response_size_bytes,
    response_size_count,
    duration_histogram,
    refreshed_at
from final

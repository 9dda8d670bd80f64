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
-- calls by error class, and the sums and the latency histograms that make days and weeks
-- computable from hours: jsonb and packed (bootstrap_sql/011, 105), and the counts in the
-- semantic conventions' buckets of mcp.server.operation.duration per error class.
{%- set error_classes = ['ok', 'tool_error', 'caller_error', 'server_error', 'transport_error'] %}
{%- set raw_schema = var('raw_schema', 'public') %}

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
        {{ raw_schema }}.mart_semconv_duration_bucket(calls.duration_ms) as semconv_bucket,
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
    group by hour, bcp_name, tool_name, operation
),

bucket_counts as (
    select
        hour,
        bcp_name,
        tool_name,
        operation,
        {{ raw_schema }}.mart_hist_bucket(duration_ms) as bucket_index,
        count(*) as bucket_count
    from tool_calls
    where duration_ms is not null
    group by hour, bcp_name, tool_name, operation, bucket_index
),

bucket_steps as (
    select
        hour,
        bcp_name,
        tool_name,
        operation,
        bucket_index,
        bucket_count,
        bucket_index - lag(bucket_index) over (
            partition by hour, bcp_name, tool_name, operation order by bucket_index
        ) as step
    from bucket_counts
),

-- the packed form is mart_hist_pack(indexes, counts) written set-wise (no call per group):
-- each bucket's 16 digits, highest first, the empty buckets below it as zeros, then the
-- exponent of the lowest bucket's field
duration_histograms as (
    select
        hour,
        bcp_name,
        tool_name,
        operation,
        jsonb_object_agg(bucket_index, bucket_count) as histogram,
        (
            string_agg(
                lpad(bucket_count::text, 16, '0') || repeat('0', 16 * (coalesce(step, 1) - 1)),
                '' order by bucket_index desc
            )
            || 'e' || (16 * (min(bucket_index) + 1665))
        )::numeric as histogram_packed
    from bucket_steps
    group by hour, bcp_name, tool_name, operation
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
        duration_histograms.histogram_packed as duration_histogram_packed,
        call_stats.operation_duration_buckets,
        call_stats.operation_duration_sum_ms,
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
    duration_histogram_packed,
    operation_duration_buckets,
    operation_duration_sum_ms,
    refreshed_at
from final

{{
    config(
        indexes=[
            {'columns': ['day', 'bcp_name', 'tool_name']},
            {'columns': ['bcp_name', 'tool_version']},
        ],
        **mart_dirty_buckets_config('day', 'tool_usage_logs', retention_days=1825)
    )
}}

-- Tool calls per UTC day and server version (tool_version: the collector's and loader's
-- field, OTLP's resource attribute service.version): calls, failures by error class,
-- latency histogram (jsonb and packed, bootstrap_sql/011 and 105) and p95, first and last
-- call: what release comparisons add up (tool_regressions). Calls that carry no version keep
-- a null tool_version. Exact, from the raw rows of each rebuilt day.

with

-- one pass over the day's calls: counts per latency bucket, then per group (a null version
-- groups like any other, and no join on it is needed)
bucket_counts as (
    select
        date_trunc('day', calls.called_at, 'UTC') as day,
        calls.bcp_name,
        calls.tool_name,
        calls.tool_version,
        {{ var('raw_schema', 'public') }}.mart_hist_bucket(calls.duration_ms) as bucket_index,
        count(*) as total_calls,
        count(*) filter (where not calls.is_success) as failed_calls,
        {{ mart_error_class_counts('calls.error_class') }},
        sum(calls.duration_ms::bigint) as sum_duration_ms,
        min(calls.called_at) as first_called_at,
        max(calls.called_at) as last_called_at
    {{ mart_rows_to_rebuild(ref('stg_mcp__tool_usage_logs'), 'calls', 'called_at', 'day') }}
    group by
        date_trunc('day', calls.called_at, 'UTC'),
        calls.bcp_name,
        calls.tool_name,
        calls.tool_version,
        {{ var('raw_schema', 'public') }}.mart_hist_bucket(calls.duration_ms)
),

version_days as (
    select
        day,
        bcp_name,
        tool_name,
        tool_version,
        sum(total_calls)::bigint as total_calls,
        sum(failed_calls)::bigint as failed_calls,
        {{ mart_error_class_sums() }},
        sum(sum_duration_ms)::bigint as sum_duration_ms,
        jsonb_object_agg(bucket_index, total_calls) as duration_histogram,
        {{ var('raw_schema', 'public') }}.mart_hist_pack(
            array_agg(bucket_index), array_agg(total_calls)
        ) as duration_histogram_packed,
        min(first_called_at) as first_called_at,
        max(last_called_at) as last_called_at
    from bucket_counts
    group by day, bcp_name, tool_name, tool_version
)

select
    day,
    bcp_name,
    tool_name,
    tool_version,
    total_calls,
    failed_calls,
    tool_error_calls,
    caller_error_calls,
    server_error_calls,
    transport_error_calls,
    sum_duration_ms,
    {{ var('raw_schema', 'public') }}.mart_hist_quantile(duration_histogram, 0.95)::integer
        as p95_duration_ms,
    duration_histogram,
    duration_histogram_packed,
    first_called_at,
    last_called_at,
    now() as refreshed_at
from version_days

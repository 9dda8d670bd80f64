{{
    config(
        indexes=[
            {'columns': ['hour', 'method', 'path'], 'unique': true},
        ],
        **mart_dirty_buckets_config('hour', 'mcp_request_logs', retention_days=730)
    )
}}

-- HTTP requests per UTC hour, method and path (the seed had no summary of mcp_request_logs):
-- volume, status classes, error types, latency percentiles (exact per hour, like the tool
-- summary) and a latency histogram for percentiles over any window.
{%- set grain = ['hour', 'method', 'path'] %}

with

requests as (
    {{ mart_source_rows(
        ref('stg_mcp__mcp_request_logs'), 'request_rows', 'requested_at', 'hour',
        ['method', 'path', 'response_status_code', 'is_success', 'error_type', 'duration_ms',
         'queue_time_ms', 'processing_time_ms', 'response_size_bytes', 'user_id',
         'session_id']) }}
),

request_stats as (
    select
        {{ grain | join(', ') }},
        {{ mart_success_counts('requests') }},
        count(*) filter (where response_status_code between 200 and 299) as status_2xx_count,
        count(*) filter (where response_status_code between 300 and 399) as status_3xx_count,
        count(*) filter (where response_status_code between 400 and 499) as status_4xx_count,
        count(*) filter (where response_status_code between 500 and 599) as status_5xx_count,
        count(*) filter (
            where response_status_code < 200 or response_status_code > 599
        ) as status_other_count,
        {{ mart_duration_stats([0.5, 0.95, 0.99]) }},
        avg(queue_time_ms)::integer as avg_queue_time_ms,
        avg(processing_time_ms)::integer as avg_processing_time_ms,
        sum(response_size_bytes::bigint) as total_response_bytes,
        count(distinct user_id) as unique_users,
        count(distinct session_id) as unique_sessions,
        sum(duration_ms::bigint) as sum_duration_ms
    from requests
    group by {{ grain | join(', ') }}
),

error_types as (
    select
        hour,
        method,
        path,
        jsonb_object_agg(error_type, error_type_count) as error_type_counts
    from (
        select
            hour,
            method,
            path,
            error_type,
            count(*) as error_type_count
        from requests
        where error_type is not null
        group by hour, method, path, error_type
    ) as per_error_type
    group by hour, method, path
),

duration_histograms as (
    {{ mart_histogram_cte('requests', grain, 'duration_ms') }}
)

select
    request_stats.hour,
    request_stats.method,
    request_stats.path,
    request_stats.total_requests,
    request_stats.successful_requests,
    request_stats.failed_requests,
    request_stats.status_2xx_count,
    request_stats.status_3xx_count,
    request_stats.status_4xx_count,
    request_stats.status_5xx_count,
    request_stats.status_other_count,
    coalesce(error_types.error_type_counts, '{}'::jsonb) as error_type_counts,
    request_stats.avg_duration_ms,
    request_stats.median_duration_ms,
    request_stats.p95_duration_ms,
    request_stats.p99_duration_ms,
    request_stats.max_duration_ms,
    request_stats.min_duration_ms,
    request_stats.avg_queue_time_ms,
    request_stats.avg_processing_time_ms,
    request_stats.total_response_bytes,
    request_stats.unique_users,
    request_stats.unique_sessions,
    request_stats.sum_duration_ms,
    duration_histograms.histogram as duration_histogram,
    now() as refreshed_at
from request_stats
inner join duration_histograms
    on {{ mart_join_keys('request_stats', 'duration_histograms', grain) }}
left join error_types
    on {{ mart_join_keys('request_stats', 'error_types', grain) }}

{{
    config(
        indexes=[
            {'columns': ['day', 'bcp_name', 'tool_name', 'operation'], 'unique': true},
        ],
        **mart_dirty_buckets_config(
            'day', 'tool_usage_logs', retention_days=1825,
            ledger_sources=['hourly_tool_usage_summary']
        )
    )
}}

-- Tool calls per UTC day, built from the hourly mart: counts, sums, min and max add up
-- exactly, and so do the histograms (the packed ones are numbers: their sum is the day's);
-- percentiles come from the day's histogram (within 1/128 of the exact value); distinct users
-- and sessions cannot be merged from hours, so they are counted exactly from the raw rows of
-- the day (a day is only rebuilt while its raw rows are all retained).
{%- set raw_schema = var('raw_schema', 'public') %}
{%- set grain = ['day', 'bcp_name', 'tool_name', 'operation'] %}

with

hours as (
    {{ mart_source_rows(
        ref('hourly_tool_usage_summary'), 'hourly', 'hour', 'day',
        ['bcp_name', 'tool_name', 'operation', 'total_calls', 'successful_calls', 'failed_calls',
         'tool_error_calls', 'caller_error_calls', 'server_error_calls', 'transport_error_calls',
         'sum_duration_ms', 'max_duration_ms', 'min_duration_ms', 'sum_response_size_bytes',
         'response_size_count', 'duration_histogram_packed', 'operation_duration_buckets',
         'operation_duration_sum_ms']) }}
),

day_totals as (
    select
        {{ grain | join(', ') }},
        sum(total_calls)::bigint as total_calls,
        sum(successful_calls)::bigint as successful_calls,
        sum(failed_calls)::bigint as failed_calls,
        {{ mart_error_class_sums() }},
        sum(sum_duration_ms)::bigint as sum_duration_ms,
        max(max_duration_ms) as max_duration_ms,
        min(min_duration_ms) as min_duration_ms,
        sum(sum_response_size_bytes)::bigint as sum_response_size_bytes,
        sum(response_size_count)::bigint as response_size_count,
        sum(duration_histogram_packed) as duration_histogram_packed,
        {{ raw_schema }}.mart_hist_to_jsonb(sum(duration_histogram_packed)) as duration_histogram,
        -- median, p95 and p99 in one pass over the day's histogram
        {{ raw_schema }}.mart_hist_quantiles(
            sum(duration_histogram_packed), array[0.5, 0.95, 0.99]
        ) as quantiles,
        -- noqa: disable=LT01,LT02
        array[
            {%- for error_class in range(1, 6) %}
            array[
                {%- for bucket in range(1, 16) %}
                sum(operation_duration_buckets[{{ error_class }}][{{ bucket }}])
                {{- ',' if not loop.last }}
                {%- endfor %}
            ]{{ ',' if not loop.last }}
            {%- endfor %}
        ]::bigint [] as operation_duration_buckets,
        array[
            {%- for error_class in range(1, 6) %}
            sum(operation_duration_sum_ms[{{ error_class }}]){{ ',' if not loop.last }}
            {%- endfor %}
        ]::bigint [] as operation_duration_sum_ms
        -- noqa: enable=LT01,LT02
    from hours
    group by {{ grain | join(', ') }}
),

day_people as (
    select
        date_trunc('day', calls.called_at, 'UTC') as day,
        calls.bcp_name,
        calls.tool_name,
        calls.operation,
        count(distinct calls.user_id) as unique_users,
        count(distinct calls.session_id) as unique_sessions
    {{ mart_rows_to_rebuild(ref('stg_mcp__tool_usage_logs'), 'calls', 'called_at', 'day') }}
    group by
        date_trunc('day', calls.called_at, 'UTC'),
        calls.bcp_name,
        calls.tool_name,
        calls.operation
)

select
    day_totals.day,
    day_totals.bcp_name,
    day_totals.tool_name,
    day_totals.operation,
    day_totals.total_calls,
    day_totals.successful_calls,
    day_totals.failed_calls,
    day_totals.tool_error_calls,
    day_totals.caller_error_calls,
    day_totals.server_error_calls,
    day_totals.transport_error_calls,
    (day_totals.sum_duration_ms::numeric / day_totals.total_calls)::integer as avg_duration_ms,
    day_totals.quantiles[1]::integer as median_duration_ms,
    day_totals.quantiles[2]::integer as p95_duration_ms,
    day_totals.quantiles[3]::integer as p99_duration_ms,
    day_totals.max_duration_ms,
    day_totals.min_duration_ms,
    (
        day_totals.sum_response_size_bytes::numeric
        / nullif(day_totals.response_size_count, 0)
    )::integer as avg_response_size,
    day_people.unique_users,
    day_people.unique_sessions,
    day_totals.sum_duration_ms,
    day_totals.sum_response_size_bytes,
    day_totals.response_size_count,
    day_totals.duration_histogram,
    day_totals.duration_histogram_packed,
    day_totals.operation_duration_buckets,
    day_totals.operation_duration_sum_ms,
    now() as refreshed_at
from day_totals
left join day_people
    on {{ mart_join_keys('day_totals', 'day_people', grain) }}

{{
    config(
        meta={'ledger_sources': ['mcp_sessions']},
        indexes=[
            {'columns': ['day', 'bcp_name', 'session_definition'], 'unique': true},
        ],
        pre_hook="{{ mart_claim_dirty('tool_usage_logs', grain='day') }}",
        post_hook="{{ mart_release_dirty('day', retention_days=1825) }}",
        **mart_dirty_buckets_config('day')
    )
}}

-- Logical sessions per UTC day, server and session definition (which rule made them:
-- transport_id:v1, idle_gap_30m:v1; analytics.mcp_sessions): how many, operations per session
-- and how long they lasted. A session counts on the day it starts, whenever it ends. Rolled up
-- from mcp_sessions for the days it rebuilt (percentiles are exact, over the day's sessions).

with

sessions as (
    select
        sessions.day,
        sessions.bcp_name,
        sessions.session_definition,
        sessions.operations,
        sessions.duration_ms,
        sessions.last_operation_at
    {{ mart_rows_to_rebuild(ref('mcp_sessions'), 'sessions', 'day', 'day') }}
)

select
    day,
    bcp_name,
    session_definition,
    count(*) as sessions,
    sum(operations)::bigint as operations,
    count(*) filter (where operations = 1) as single_operation_sessions,
    count(*) filter (
        where date_trunc('day', last_operation_at, 'UTC') > day
    ) as sessions_continuing_next_day,
    round(avg(operations), 2)::numeric(14, 2) as avg_operations_per_session,
    percentile_disc(0.5) within group (order by operations)::bigint
        as p50_operations_per_session,
    percentile_disc(0.95) within group (order by operations)::bigint
        as p95_operations_per_session,
    max(operations)::bigint as max_operations_per_session,
    round(avg(duration_ms) / 1000, 3)::numeric(14, 3) as avg_session_duration_seconds,
    (percentile_disc(0.5) within group (order by duration_ms) / 1000.0)::numeric(14, 3)
        as p50_session_duration_seconds,
    (percentile_disc(0.95) within group (order by duration_ms) / 1000.0)::numeric(14, 3)
        as p95_session_duration_seconds,
    (max(duration_ms) / 1000.0)::numeric(14, 3) as max_session_duration_seconds,
    now() as refreshed_at
from sessions
group by day, bcp_name, session_definition

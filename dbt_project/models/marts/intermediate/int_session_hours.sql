{{
    config(
        indexes=[
            {'columns': ['hour']},
            {'columns': ['bcp_name', 'session_id']},
        ],
        **mart_dirty_buckets_config('hour', 'tool_usage_logs', retention_days=1825)
    )
}}

-- The calls of each transport session (a session id, on one server) per UTC hour, as partial
-- aggregates that analytics.mcp_sessions merges into whole sessions: a new or late call
-- recomputes its hour here from the raw rows, and mcp_sessions re-merges only the sessions
-- with a row in that hour, from these rows instead of the session's raw calls. The first call
-- of the hour (by time, then id) carries the client fields the session takes from its first.
-- An hour whose calls of a session were all deleted keeps a row of 0 operations (times and
-- client null): that is how mcp_sessions learns the session changed.

with

calls as (
    select
        calls.tool_call_id,
        calls.bcp_name,
        calls.session_id,
        calls.called_at,
        calls.duration_ms,
        calls.client_name,
        calls.client_version,
        calls.protocol_version
    {{ mart_rows_to_rebuild(
        ref('stg_mcp__tool_call_sessions'), 'calls', 'called_at', 'hour',
        condition='calls.called_at is not null and calls.session_id is not null') }}
),

session_hours as (
    select
        date_trunc('hour', called_at, 'UTC') as hour,
        bcp_name,
        session_id,
        min(called_at) as first_called_at,
        (array_agg(tool_call_id order by called_at, tool_call_id))[1] as first_tool_call_id,
        (array_agg(client_name order by called_at, tool_call_id))[1] as client_name,
        (array_agg(client_version order by called_at, tool_call_id))[1] as client_version,
        (array_agg(protocol_version order by called_at, tool_call_id))[1] as protocol_version,
        max(called_at) as last_operation_at,
        max(called_at + duration_ms * interval '1 millisecond') as ended_at,
        count(*) as operations
    from calls
    group by date_trunc('hour', called_at, 'UTC'), bcp_name, session_id
)

-- each row, and on an incremental run one of 0 operations for each session that had
-- calls in a rebuilt hour and has none now
{{ mart_session_parts_select('session_hours', 'hour', 'calls', 'called_at') }}

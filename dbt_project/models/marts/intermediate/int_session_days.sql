{{
    config(
        indexes=[
            {'columns': ['day']},
            {'columns': ['bcp_name', 'session_id']},
        ],
        **mart_dirty_buckets_config(
            'day', 'tool_usage_logs', retention_days=1825, ledger_sources=['int_session_hours']
        )
    )
}}

-- The calls of each transport session (a session id, on one server) per UTC day: the hourly
-- partials of int_session_hours merged, so analytics.mcp_sessions merges a touched session
-- from a row per day instead of a row per hour with calls. The ledger source is
-- int_session_hours, whose post-hook marks the hours it rebuilt; they are claimed here by day,
-- and each such day is merged again from its hourly rows. The first call of the day (by time,
-- then id) carries the client fields the session takes from its first. A day whose calls of a
-- session were all deleted keeps a row of 0 operations (times and client null), as its hours
-- do.

with

parts as (
    select
        parts.hour,
        parts.bcp_name,
        parts.session_id,
        parts.first_called_at,
        parts.first_tool_call_id,
        parts.client_name,
        parts.client_version,
        parts.protocol_version,
        parts.last_operation_at,
        parts.ended_at,
        parts.operations
    {{ mart_rows_to_rebuild(ref('int_session_hours'), 'parts', 'hour', 'day') }}
),

session_days as (
    select
        date_trunc('day', parts.hour, 'UTC') as day,
        parts.bcp_name,
        parts.session_id,
        min(parts.first_called_at) as first_called_at,
        -- an hour of 0 operations has null times: it comes last (its fields are the day's
        -- only when the day has no call left, and then null, as they should be)
        {{ mart_session_first_of_parts(
            'parts', ['first_tool_call_id', 'client_name', 'client_version', 'protocol_version']) }},
        max(parts.last_operation_at) as last_operation_at,
        max(parts.ended_at) as ended_at,
        sum(parts.operations) as operations
    from parts
    group by date_trunc('day', parts.hour, 'UTC'), parts.bcp_name, parts.session_id
)

-- each row, and on an incremental run one of 0 operations for each session that had
-- a row in a rebuilt day and has none now
{{ mart_session_parts_select('session_days', 'day', 'parts', 'hour') }}

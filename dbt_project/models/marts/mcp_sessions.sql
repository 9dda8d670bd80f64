{{
    config(
        meta={'ledger_sources': ['int_session_hours'], 'needs_nested_loops': true},
        indexes=[
            {'columns': ['day', 'bcp_name']},
            {'columns': ['last_operation_at']},
            {'columns': ['bcp_name', 'session_id']},
            {'columns': ['duration_ms desc nulls last', 'started_at', 'stream_key']},
        ],
        pre_hook=[
            "{{ mart_claim_dirty('tool_usage_logs', grain='hour') }}",
            "{{ mart_session_wait_for_days() }}",
            "{{ mart_session_rebuild_days(30) }}",
        ],
        post_hook="{{ mart_release_dirty('day', retention_days=1825) }}",
        incremental_strategy='dirty_buckets',
        incremental_predicates=[
            "case dbt_internal_dest.session_definition when 'transport_id:v1' then"
            ~ " (dbt_internal_dest.bcp_name, dbt_internal_dest.session_id) in ("
            ~ "select touched.bcp_name, touched.session_id"
            ~ " from pg_temp.session_transport_keys as touched)"
            ~ " else dbt_internal_dest.day in ("
            ~ "select idle.day from pg_temp.session_idle_days as idle) end"
        ],
        full_refresh=mart_full_refresh()
    )
}}

-- Logical MCP sessions, one row each, under a versioned definition (session_definition):
--   transport_id:v1   the calls of one transport session id (Mcp-Session-Id, mcp.session.id)
--                     on one server, whenever they come;
--   idle_gap_30m:v1   calls without one (stdio, stateless HTTP, the 2026-07-28 revision): per
--                     server, client name and version and address, a new session after more
--                     than 30 minutes without a call.
-- (client_handle:v1, a handle the client sends, ranks between them once an ingest path records
-- one; none does.) A session belongs to the UTC day of its first call, whenever it ends.
-- Incremental run (mart_session_rebuild_days says what): a transport session with an hourly
-- row in a dirty hour (int_session_hours) is merged again from all its daily rows
-- (int_session_days, the hourly rows merged by day), never from its raw calls; the idle-gap
-- sessions of the days it chose are recomputed from the raw calls, from the gap before the
-- first of them on, so every session starting on them is read whole.
-- The ledger source is int_session_hours, whose post-hook marks the hours it rebuilt (the
-- dirty hours of tool_usage_logs) for int_session_days and for this model: the touched
-- sessions are those of the dirty hours, far fewer than those of their days. An hour whose
-- day int_session_days has not merged yet waits in the ledger (mart_session_wait_for_days).
-- Nested loops stay on: a few thousand sessions are looked up in the daily rows by their
-- index.
-- The index on (duration_ms desc nulls last, started_at, stream_key) is the order of the
-- dashboard's longest sessions of a window: read in that order, it stops at the page's limit.

with

idle_calls as (
    select
        calls.tool_call_id,
        calls.bcp_name,
        calls.called_at,
        calls.duration_ms,
        calls.client_name,
        calls.client_version,
        calls.protocol_version,
        -- the stream, pseudonymous: the address is not stored in clear
        md5(
            jsonb_build_array(calls.client_name, calls.client_version, host(calls.client_address))::text
        ) as stream_key,
        -- more than the gap since the stream's previous call (or none): a new session
        coalesce(
            calls.called_at - lag(calls.called_at) over (
                partition by
                    calls.bcp_name,
                    calls.client_name,
                    calls.client_version,
                    host(calls.client_address)
                order by calls.called_at, calls.tool_call_id
            ) > interval '30 minutes',
            true
        ) as starts_session
    from {{ ref('stg_mcp__tool_call_sessions') }} as calls
    where
        calls.session_id is null
        and calls.called_at is not null
        -- from the gap before the first day rebuilt (-infinity on a first build)
        and calls.called_at >= current_setting('mcp_analytics.session_idle_first')::timestamptz
),

idle_sessions as (
    select
        numbered.bcp_name,
        'idle_gap_30m:v1' as session_definition,
        numbered.stream_key,
        null as session_id,
        numbered.client_name,
        numbered.client_version,
        (array_agg(numbered.protocol_version order by numbered.called_at, numbered.tool_call_id))[1]
            as protocol_version,
        min(numbered.called_at) as started_at,
        max(numbered.called_at) as last_operation_at,
        max(numbered.called_at + numbered.duration_ms * interval '1 millisecond') as ended_at,
        count(*) as operations
    from (
        select
            idle_calls.tool_call_id,
            idle_calls.bcp_name,
            idle_calls.stream_key,
            idle_calls.client_name,
            idle_calls.client_version,
            idle_calls.protocol_version,
            idle_calls.called_at,
            idle_calls.duration_ms,
            count(*) filter (where idle_calls.starts_session) over (
                partition by idle_calls.bcp_name, idle_calls.stream_key
                order by idle_calls.called_at, idle_calls.tool_call_id
                rows between unbounded preceding and current row
            ) as session_number
        from idle_calls
    ) as numbered
    group by
        numbered.bcp_name,
        numbered.stream_key,
        numbered.client_name,
        numbered.client_version,
        numbered.session_number
    {% if is_incremental() %}
        having
            date_trunc('day', min(numbered.called_at), 'UTC') in (
                select idle.day from pg_temp.session_idle_days as idle
            )
    {% endif %}
),

-- a transport session: its daily partials merged (the client of its first call); the hourly
-- ones say which sessions a dirty hour touched
-- depends_on: {{ ref('int_session_hours') }}
transport_sessions as (
    select
        parts.bcp_name,
        'transport_id:v1' as session_definition,
        md5(parts.session_id) as stream_key,
        parts.session_id,
        {{ mart_session_first_of_parts(
            'parts', ['client_name', 'client_version', 'protocol_version']) }},
        min(parts.first_called_at) as started_at,
        max(parts.last_operation_at) as last_operation_at,
        max(parts.ended_at) as ended_at,
        sum(parts.operations)::bigint as operations
    from {{ ref('int_session_days') }} as parts
    {% if is_incremental() %}
        inner join pg_temp.session_transport_keys as touched
            on parts.bcp_name = touched.bcp_name and parts.session_id = touched.session_id
    {% endif %}
    where parts.operations > 0
    group by parts.bcp_name, parts.session_id
),

-- each definition's sessions, one row each
sessions as (
    {%- set columns = [
        'bcp_name', 'session_definition', 'stream_key', 'session_id', 'client_name',
        'client_version', 'protocol_version', 'started_at', 'last_operation_at', 'ended_at',
        'operations',
    ] %}
    {%- for kind in ['idle_sessions', 'transport_sessions'] %}
        select {{ columns | join(', ') }} from {{ kind }}
        {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
)

select
    date_trunc('day', sessions.started_at, 'UTC') as day,
    sessions.session_definition::text as session_definition,
    sessions.stream_key::text as stream_key,
    {{ mart_session_fields('sessions') }},
    sessions.started_at,
    sessions.last_operation_at,
    sessions.ended_at,
    sessions.operations,
    round(extract(epoch from sessions.ended_at - sessions.started_at) * 1000)::bigint
        as duration_ms,
    now() as refreshed_at
from sessions

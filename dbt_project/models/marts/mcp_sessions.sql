{{
    config(
        meta={'ledger_sources': ['tool_usage_logs']},
        indexes=[
            {'columns': ['day', 'bcp_name']},
            {'columns': ['last_operation_at']},
            {'columns': ['bcp_name', 'session_id']},
        ],
        pre_hook=[
            "{{ mart_claim_dirty('tool_usage_logs', grain='hour') }}",
            "{{ mart_session_rebuild_days(30) }}",
        ],
        post_hook="{{ mart_release_dirty('day', retention_days=1825) }}",
        **mart_dirty_buckets_config('day')
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
-- Incremental run: the days mart_session_rebuild_days chose, recomputed from the raw rows from
-- the gap before the first of them on, so every session starting on them is read whole.

with

calls as (
    select
        calls.tool_call_id,
        calls.bcp_name,
        calls.called_at,
        calls.duration_ms,
        calls.session_id,
        calls.client_name,
        calls.client_version,
        calls.protocol_version,
        calls.client_address,
        case
            when calls.session_id is not null then 'transport_id:v1'
            else 'idle_gap_30m:v1'
        end as session_definition
    from {{ ref('stg_mcp__tool_call_sessions') }} as calls
    where
        calls.called_at is not null
        {% if is_incremental() %}
            and calls.called_at
            >= current_setting('mcp_analytics.mart_rebuild_first')::timestamptz
            - interval '30 minutes'
        {% endif %}
),

idle_calls as (
    select
        tool_call_id,
        bcp_name,
        called_at,
        duration_ms,
        client_name,
        client_version,
        protocol_version,
        client_address,
        -- more than the gap since the stream's previous call (or none): a new session
        coalesce(
            called_at - lag(called_at) over stream > interval '30 minutes', true
        ) as starts_session
    from calls
    where session_definition = 'idle_gap_30m:v1'
    window stream as (
        partition by bcp_name, client_name, client_version, client_address
        order by called_at, tool_call_id
    )
),

idle_numbered as (
    select
        tool_call_id,
        bcp_name,
        called_at,
        duration_ms,
        client_name,
        client_version,
        protocol_version,
        client_address,
        count(*) filter (where starts_session) over (
            partition by bcp_name, client_name, client_version, client_address
            order by called_at, tool_call_id
            rows between unbounded preceding and current row
        ) as session_number
    from idle_calls
),

-- each definition's sessions, one row each
sessions as (
    select
        bcp_name,
        'idle_gap_30m:v1' as session_definition,
        -- the stream, pseudonymous: the address is not stored in clear
        md5(jsonb_build_array(client_name, client_version, host(client_address))::text)
            as stream_key,
        null::varchar(255) as session_id,
        client_name,
        client_version,
        (array_agg(protocol_version order by called_at, tool_call_id))[1] as protocol_version,
        min(called_at) as started_at,
        max(called_at) as last_operation_at,
        max(called_at + duration_ms * interval '1 millisecond') as ended_at,
        count(*) as operations
    from idle_numbered
    group by bcp_name, client_name, client_version, client_address, session_number
    union all
    select
        bcp_name,
        'transport_id:v1' as session_definition,
        md5(session_id) as stream_key,
        session_id,
        (array_agg(client_name order by called_at, tool_call_id))[1] as client_name,
        (array_agg(client_version order by called_at, tool_call_id))[1] as client_version,
        (array_agg(protocol_version order by called_at, tool_call_id))[1] as protocol_version,
        min(called_at) as started_at,
        max(called_at) as last_operation_at,
        max(called_at + duration_ms * interval '1 millisecond') as ended_at,
        count(*) as operations
    from calls
    where session_definition = 'transport_id:v1'
    group by bcp_name, session_id
)

select
    date_trunc('day', sessions.started_at, 'UTC') as day,
    sessions.bcp_name::varchar(255) as bcp_name,
    sessions.session_definition::text as session_definition,
    sessions.stream_key::text as stream_key,
    sessions.session_id::varchar(255) as session_id,
    sessions.client_name::varchar(255) as client_name,
    sessions.client_version::varchar(100) as client_version,
    sessions.protocol_version::varchar(50) as protocol_version,
    sessions.started_at,
    sessions.last_operation_at,
    sessions.ended_at,
    sessions.operations,
    round(extract(epoch from sessions.ended_at - sessions.started_at) * 1000)::bigint
        as duration_ms,
    now() as refreshed_at
from sessions
{% if is_incremental() %}
    where
        date_trunc('day', sessions.started_at, 'UTC') in (
            select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt
        )
        -- a transport session that started before the first rebuilt day is kept as stored
        -- (only its later calls are read here)
        and not exists (
            select 1
            from {{ this }} as kept
            where
                kept.session_definition = 'transport_id:v1'
                and kept.bcp_name = sessions.bcp_name
                and kept.session_id = sessions.session_id
                and kept.day
                < current_setting('mcp_analytics.mart_rebuild_first')::timestamptz
        )
{% endif %}

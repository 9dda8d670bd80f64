{{
    config(
        indexes=[
            {'columns': ['day', 'bcp_name']},
            {'columns': ['client_name', 'protocol_version']},
        ],
        **mart_dirty_buckets_config('day', 'tool_usage_logs', retention_days=1825)
    )
}}

-- Who calls each MCP server, per UTC day: the client (name and version, as the client reports
-- itself: mcp.client.name / the handshake's clientInfo / the 2026-07-28 request _meta), the
-- protocol version and the transport, with calls, errors by class, latency and when it was
-- first and last seen that day. Client fields are null where the sender recorded none.
-- Exact, from the raw rows of each rebuilt day.

with

tool_calls as (
    {{ mart_source_rows(
        ref('stg_mcp__tool_usage_logs'), 'calls', 'called_at', 'day',
        ['bcp_name', 'client_name', 'client_version', 'protocol_version', 'transport',
         'called_at', 'is_success', 'error_class', 'duration_ms', 'session_id']) }}
)

select
    day,
    bcp_name,
    client_name,
    client_version,
    protocol_version,
    transport,
    -- protocol versions are dates (YYYY-MM-DD): 2026-07-28 dropped the initialize handshake
    -- and the transport session
    protocol_version < '2026-07-28' as is_pre_2026_07_28_protocol,
    {{ mart_success_counts('calls') }},
    {{ mart_error_class_counts() }},
    avg(duration_ms)::integer as avg_duration_ms,
    percentile_cont(0.95) within group (order by duration_ms)::integer as p95_duration_ms,
    count(distinct session_id) as unique_sessions,
    min(called_at) as first_seen_at,
    max(called_at) as last_seen_at,
    now() as refreshed_at
from tool_calls
group by day, bcp_name, client_name, client_version, protocol_version, transport

-- What the logical sessions are made of (analytics.mcp_sessions): one row per tool call with
-- the fields that say which session it belongs to, the caller's address included. Not granted
-- to analysts (the address is personal data; stg_mcp__tool_usage_logs leaves it out).

with

source as (

    select * from {{ source('mcp', 'tool_usage_logs') }}

),

renamed as (

    select
        id as tool_call_id,
        bcp_name,
        "timestamp" as called_at,
        duration_ms,
        -- an empty Mcp-Session-Id is no session id
        nullif(session_id, '') as session_id,
        client_name,
        client_version,
        protocol_version,
        ip_address as client_address
    from source

)

select * from renamed

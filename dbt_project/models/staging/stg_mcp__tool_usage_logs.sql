with

source as (

    select * from {{ source('mcp', 'tool_usage_logs') }}

),

renamed as (

    select
        id as tool_call_id,
        execution_id,
        bcp_name,
        tool_name,
        operation,
        error_code,
        duration_ms,
        memory_usage_mb,
        cpu_usage_percent,
        success as is_success,
        tool_version,
        user_id,
        session_id,
        request_id,
        response_size_bytes,
        cache_hit as is_cache_hit,
        "timestamp" as called_at,
        -- stored at ingest; the same rule in SQL for rows written around it (bootstrap_sql/080)
        coalesce(
            error_class, {{ var('raw_schema', 'public') }}.mcp_error_class(success, error_code)
        ) as error_class,
        client_name,
        client_version,
        protocol_version,
        transport,
        trace_id,
        span_id
    from source

)

select * from renamed

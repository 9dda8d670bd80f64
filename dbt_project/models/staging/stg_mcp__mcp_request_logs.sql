with

source as (

    select * from {{ source('mcp', 'mcp_request_logs') }}

),

renamed as (

    select
        id as request_log_id,
        request_id,
        method,
        path,
        response_status_code,
        response_size_bytes,
        duration_ms,
        queue_time_ms,
        processing_time_ms,
        success as is_success,
        error_type,
        user_id,
        session_id,
        client_version,
        correlation_id,
        trace_id,
        "timestamp" as requested_at
    from source

)

select * from renamed

with

source as (

    select * from {{ source('mcp', 'error_logs') }}

),

renamed as (

    select
        id as error_id,
        level,
        message,
        error_code,
        user_id,
        session_id,
        request_id,
        execution_id,
        "timestamp" as occurred_at,
        resolved as is_resolved,
        resolved_by,
        resolved_at,
        category,
        severity,
        impact_level,
        environment,
        service_version,
        occurrence_count
    from source

)

select * from renamed

with

source as (

    select * from {{ source('mcp', 'data_retention_policies') }}

),

renamed as (

    select
        table_name,
        retention_days,
        archive_before_delete,
        cleanup_enabled as is_cleanup_enabled,
        last_cleanup as last_cleanup_at,
        last_cleanup_count,
        last_cleanup_duration_ms,
        cleanup_batch_size,
        cleanup_interval_hours
    from source

)

select * from renamed

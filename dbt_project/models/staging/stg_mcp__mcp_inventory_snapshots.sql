with

source as (

    select * from {{ source('mcp', 'mcp_inventory_snapshots') }}

),

renamed as (

    select
        id as snapshot_id,
        bcp_name,
        server_version,
        protocol_version,
        source as snapshot_source,
        endpoint,
        taken_at,
        tools as tool_count,
        prompts as prompt_count,
        resources as resource_count,
        resource_templates as resource_template_count,
        error as error_message,
        error is null as is_success
    from source

)

select * from renamed

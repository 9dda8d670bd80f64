-- Sensitive values are masked: they never leave the raw table through dbt.
with

source as (

    select * from {{ source('mcp', 'system_configuration') }}

),

renamed as (

    select
        config_key,
        case when is_sensitive then null else config_value end as config_value,
        description,
        config_type,
        is_encrypted,
        is_sensitive,
        created_at,
        updated_at
    from source

)

select * from renamed

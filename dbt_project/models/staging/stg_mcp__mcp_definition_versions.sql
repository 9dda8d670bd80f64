with

source as (

    select * from {{ source('mcp', 'mcp_definition_versions') }}

),

renamed as (

    select
        id as definition_version_id,
        bcp_name,
        kind,
        name as definition_name,
        fingerprint,
        definition,
        first_seen_at,
        last_seen_at,
        first_snapshot_id,
        last_snapshot_id,
        times_seen
    from source

)

select * from renamed

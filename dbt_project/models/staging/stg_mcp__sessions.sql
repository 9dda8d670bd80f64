-- The token hash and session_data are deliberately not selected (the list below is the
-- allow-list).
with

source as (

    select * from {{ source('mcp', 'sessions') }}

),

renamed as (

    select
        id as session_id,
        user_id,
        expires_at,
        created_at,
        last_accessed as last_accessed_at,
        is_active,
        login_method,
        mfa_verified as is_mfa_verified
    from source

)

select * from renamed

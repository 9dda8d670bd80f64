-- password_hash is deliberately not selected (the list below is the allow-list).
with

source as (

    select * from {{ source('mcp', 'users') }}

),

renamed as (

    select
        id as user_id,
        username,
        email,
        role as user_role,
        is_active,
        created_at,
        updated_at,
        last_login as last_login_at,
        login_attempts,
        locked_until,
        timezone
    from source

)

select * from renamed

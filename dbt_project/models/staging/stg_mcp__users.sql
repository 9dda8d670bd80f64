-- password_hash is deliberately not selected.
with source as (
    select
        id,
        username,
        email,
        role,
        is_active,
        created_at,
        updated_at,
        last_login,
        login_attempts,
        locked_until,
        timezone
    from {{ source('mcp', 'users') }}
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

select
    user_id,
    username,
    email,
    user_role,
    is_active,
    created_at,
    updated_at,
    last_login_at,
    login_attempts,
    locked_until,
    timezone
from renamed

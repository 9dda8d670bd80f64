-- Dashboard users and their sessions (seed: "Users Table", "Sessions Table").
create table users (
    id serial primary key,
    username varchar(255) unique not null,
    password_hash varchar(255) not null, -- bcrypt, cost >= 12
    email varchar(255) unique,
    role user_role_enum default 'ADMIN',
    is_active boolean default true,
    created_at timestamp with time zone default current_timestamp,
    updated_at timestamp with time zone default current_timestamp,

    -- security and audit fields
    last_login timestamp with time zone,
    login_attempts integer default 0,
    locked_until timestamp with time zone,

    -- additional metadata
    first_name varchar(255),
    last_name varchar(255),
    timezone varchar(50) default 'UTC',
    preferences jsonb default '{}',

    -- audit fields
    created_by integer references users (id),
    updated_by integer references users (id)
);

create index idx_users_username on users (username);
create index idx_users_email on users (email) where email is not null;
create index idx_users_active on users (is_active) where is_active = true;
create index idx_users_locked on users (locked_until) where locked_until is not null;

create table sessions (
    id varchar(255) primary key,
    user_id integer not null references users (id) on delete cascade,
    -- holds a SHA-256 hash of the session token, never the token itself (docs/seed-corrections.md)
    token varchar(500) unique not null,
    expires_at timestamp with time zone not null,
    created_at timestamp with time zone default current_timestamp,
    last_accessed timestamp with time zone default current_timestamp,

    -- request context
    ip_address inet,
    user_agent text,
    is_active boolean default true,

    -- session metadata
    session_data jsonb default '{}',

    -- security tracking
    login_method varchar(50) default 'password',
    mfa_verified boolean default false,

    constraint chk_expires_future check (expires_at > created_at)
);

create index idx_sessions_token on sessions (token);
create index idx_sessions_user_active on sessions (user_id, is_active) where is_active = true;
create index idx_sessions_expires on sessions (expires_at);
create index idx_sessions_ip on sessions (ip_address);
-- The seed's predicate `where expires_at < current_timestamp` is not IMMUTABLE, so PostgreSQL
-- refuses it. Batched cleanup walks expires_at in order and deletes by id: a covering index
-- serves that as an index-only scan.
create index idx_sessions_cleanup on sessions (expires_at) include (id);

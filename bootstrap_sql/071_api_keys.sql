-- API keys for the OTLP receiver (docs/otlp.md): an exporter sends one as
-- `Authorization: Bearer <key>` when the receiver listens on a non-loopback address. Like
-- session tokens, a key is 256 random bits and only its SHA-256 is stored, so a leaked table
-- opens nothing. `mcp-analytics keys create | list | revoke` manage them (admin URL).
create table api_keys (
    id bigserial primary key,
    name varchar(100) not null,
    key_hash char(64) not null,
    -- the key's first characters, to recognise it in listings (not enough to guess it)
    key_prefix varchar(16) not null,
    created_at timestamp with time zone not null default current_timestamp,
    created_by varchar(100) not null default current_user,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    constraint api_keys_key_hash_key unique (key_hash)
);

-- One live key per name; a revoked key's name can be given to a new key.
create unique index api_keys_live_name on api_keys (name) where revoked_at is null;

grant select, insert, update on api_keys to mcp_admin;
grant usage on sequence api_keys_id_seq to mcp_admin;

-- The receiver connects as the ingest role, which must not read the keys: it asks this
-- function whether a hash is a live key. last_used_at is touched at most once a minute per key.
create function api_key_valid(p_key_hash text)
returns boolean
language plpgsql
volatile
security definer
set search_path = pg_catalog, public
as $$
declare
    found_id bigint;
begin
    select k.id into found_id
    from public.api_keys as k
    where k.key_hash = p_key_hash and k.revoked_at is null;
    if found_id is null then
        return false;
    end if;
    update public.api_keys as k set last_used_at = now()
    where k.id = found_id
        and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute');
    return true;
end
$$;

revoke all on function api_key_valid(text) from public;
grant execute on function api_key_valid(text) to mcp_ingest;

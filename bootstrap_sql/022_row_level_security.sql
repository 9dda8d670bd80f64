-- Row-level security (issue 6; the seed lists RLS under "PostgreSQL 15+ Features Utilized").
-- FORCE makes the tables' owner subject to the policies as well; superusers always bypass RLS,
-- and mcp_admin (which 020 grants to a non-superuser bootstrapping user) sees every row through
-- an explicit policy. Policies are permissive, so a role sees the union of what they allow.

-- The user a connection acts for: `select set_config('mcp_analytics.user_id', '42', true)`
-- (true = for the current transaction, the safe choice with connection pools). Unset or empty
-- means no user: the self policies below then match nothing. A non-integer value is an error,
-- never a match.
create function mcp_bound_user_id()
returns integer
language sql
stable
parallel safe
as $$
    select nullif(pg_catalog.current_setting('mcp_analytics.user_id', true), '')::integer
$$;

comment on function mcp_bound_user_id() is
'User id bound to this connection via the session setting mcp_analytics.user_id (null if none)';

-- users: a bound connection sees and edits only its own row (column grants in 021 decide which
-- columns); mcp_admin sees all.
alter table users enable row level security;
alter table users force row level security;

create policy users_admin_all on users
for all to mcp_admin
using (true) with check (true);

create policy users_bound_self on users
for all to public
using (id = mcp_bound_user_id())
with check (id = mcp_bound_user_id());

-- sessions: same binding through user_id.
alter table sessions enable row level security;
alter table sessions force row level security;

create policy sessions_admin_all on sessions
for all to mcp_admin
using (true) with check (true);

create policy sessions_bound_self on sessions
for all to public
using (user_id = mcp_bound_user_id())
with check (user_id = mcp_bound_user_id());

-- system_configuration: rows marked is_sensitive are for mcp_admin only. A null is_sensitive
-- counts as sensitive (fail closed). Ingest reads only the collector's analytics.* settings.
alter table system_configuration enable row level security;
alter table system_configuration force row level security;

create policy config_admin_all on system_configuration
for all to mcp_admin
using (true) with check (true);

create policy config_analyst_nonsensitive on system_configuration
for select to mcp_analyst
using (is_sensitive is false);

create policy config_ingest_collector on system_configuration
for select to mcp_ingest
using (is_sensitive is false and config_key like 'analytics.%');

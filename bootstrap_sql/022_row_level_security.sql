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
-- columns); sessions: the same binding through user_id; system_configuration: rows marked
-- is_sensitive are for mcp_admin only (a null is_sensitive counts as sensitive: fail closed),
-- ingest reads only the collector's analytics.* settings. mcp_admin sees all of each.
do $$
declare
    t record;
begin
    for t in
        select p.table_name, p.policy_prefix, p.user_column
        from (
            values
            ('users', 'users', 'id'),
            ('sessions', 'sessions', 'user_id'),
            ('system_configuration', 'config', null)
        ) as p (table_name, policy_prefix, user_column)
    loop
        execute format('alter table %I enable row level security', t.table_name);
        execute format('alter table %I force row level security', t.table_name);
        execute format(
            'create policy %I on %I for all to mcp_admin using (true) with check (true)',
            t.policy_prefix || '_admin_all', t.table_name
        );
        if t.user_column is not null then
            execute format(
                'create policy %I on %I for all to public using (%3$I = mcp_bound_user_id())'
                ' with check (%3$I = mcp_bound_user_id())',
                t.policy_prefix || '_bound_self', t.table_name, t.user_column
            );
        end if;
    end loop;
end;
$$;

create policy config_analyst_nonsensitive on system_configuration
for select to mcp_analyst
using (is_sensitive is false);

create policy config_ingest_collector on system_configuration
for select to mcp_ingest
using (is_sensitive is false and config_key like 'analytics.%');

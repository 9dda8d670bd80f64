-- Database roles (issue 6). NOLOGIN group roles: people and services log in as their own LOGIN
-- roles that are members of these, so no password lives in a SQL file. Roles are cluster-wide
-- while this file runs once per database, possibly in several databases at once: creation is
-- idempotent and tolerates a concurrent creator. Grants (per database) are in 021, row-level
-- security in 022. docs/security.md lists what each role may do.
--
--   mcp_admin    operators, dbt, retention, `mcp-analytics users`: everything, all rows
--   mcp_ingest   telemetry writers (MCP servers, loaders): INSERT into the raw tables only
--   mcp_analyst  analysts and BI tools: SELECT on the analytics marts, non-sensitive config
--   mcp_app      the dashboard backend acting for one signed-in user (bound with the session
--                setting mcp_analytics.user_id); member of mcp_analyst

do $$
declare
    r record;
begin
    for r in
        select v.name, v.note
        from (
            values
            ('mcp_admin', 'mcp-analytics: administration, all rows (group role, NOLOGIN)'),
            ('mcp_ingest', 'mcp-analytics: telemetry writer, INSERT on raw tables only'),
            ('mcp_analyst', 'mcp-analytics: read-only analytics marts'),
            ('mcp_app', 'mcp-analytics: dashboard backend bound to one user (mcp_analytics.user_id)')
        ) as v (name, note)
    loop
        if not exists (select from pg_catalog.pg_roles where rolname = r.name) then
            begin
                execute format('create role %I nologin', r.name);
                execute format('comment on role %I is %L', r.name, r.note);
            exception when duplicate_object or unique_violation then
                -- another bootstrap created it between our check and our create
                null;
            end;
        end if;
    end loop;
end
$$;

-- The dashboard backend reads the marts like an analyst does.
do $$
begin
    if not pg_catalog.pg_has_role('mcp_app', 'mcp_analyst', 'member') then
        grant mcp_analyst to mcp_app;
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;

-- users, sessions and system_configuration FORCE row-level security (022), so their owner is
-- subject to the policies too. A superuser bypasses RLS anyway; a non-superuser owner (managed
-- PostgreSQL) must be a member of mcp_admin or it would see no rows, and retention would delete
-- nothing. Make that membership explicit here.
do $$
begin
    if not (select rolsuper from pg_catalog.pg_roles where rolname = current_user)
        and not pg_catalog.pg_has_role(current_user, 'mcp_admin', 'member') then
        execute format('grant mcp_admin to %I', current_user);
    end if;
exception
    when duplicate_object or unique_violation then
        null;
    when insufficient_privilege then
        raise warning
            'cannot grant mcp_admin to %: grant it by hand, or this user will see no rows of '
            'users, sessions and system_configuration (forced row-level security)', current_user;
end
$$;

-- Privileges of the group roles from 020 in this database (issue 6). Least privilege: each
-- role gets what its job needs and nothing by default. Tables created later by other bootstrap
-- files are admin-only unless their author grants more (docs/security.md).

create schema if not exists analytics;

-- Database: no implicit CONNECT or TEMPORARY for every role of the cluster.
do $$
begin
    execute format('revoke connect, temporary on database %I from public', current_database());
    execute format(
        'grant connect on database %I to mcp_admin, mcp_ingest, mcp_analyst, mcp_app',
        current_database()
    );
    -- ingest stages batches in temporary tables; dbt (admin) builds incremental models there
    execute format('grant temporary on database %I to mcp_admin, mcp_ingest', current_database());
end
$$;

revoke create on schema public from public;
grant usage on schema public to mcp_admin, mcp_ingest, mcp_analyst, mcp_app;
grant usage on schema analytics to mcp_admin, mcp_analyst;

-- mcp_ingest: append telemetry, read nothing back (a compromised MCP server holding this
-- credential must not read other servers' telemetry, users or secrets).
grant insert on tool_usage_logs, mcp_request_logs, error_logs, performance_metrics to mcp_ingest;

do $$
declare
    t text;
begin
    foreach t in array array['tool_usage_logs', 'mcp_request_logs', 'error_logs', 'performance_metrics']
    loop
        execute format('grant usage on sequence %s to mcp_ingest', pg_get_serial_sequence(t, 'id'));
    end loop;
end
$$;

-- Rows are filtered by row-level security (022): non-sensitive analytics.* settings only.
grant select on system_configuration to mcp_ingest;

-- mcp_analyst: the marts (schema analytics, now and later) and the seed's summaries.
grant select on all tables in schema analytics to mcp_analyst;
grant select on hourly_tool_usage_summary, daily_error_summary, performance_metrics_summary
to mcp_analyst;
grant select on system_configuration to mcp_analyst; -- non-sensitive rows only (022)

-- Tables dbt creates later in analytics are readable by analysts. Default privileges belong to
-- the creating role: cover the bootstrapping user (dbt runs with the admin URL) and mcp_admin
-- (a login that SET ROLEs to it). dbt_project.yml also grants select to mcp_analyst.
alter default privileges in schema analytics grant select on tables to mcp_analyst;

-- mcp_app: its own user row without secrets, its own sessions (022 binds the rows).
grant select (
    id, username, email, role, is_active, created_at, updated_at, last_login,
    first_name, last_name, timezone, preferences
) on users to mcp_app;
grant update (email, first_name, last_name, timezone, preferences, updated_at) on users to mcp_app;
grant select (
    id, user_id, expires_at, created_at, last_accessed, ip_address, user_agent, is_active,
    login_method, mfa_verified
) on sessions to mcp_app;
grant delete on sessions to mcp_app; -- sign out; no UPDATE, so a revoked session stays revoked

-- mcp_admin: everything, now and for what the bootstrapping user creates later (partitions,
-- later bootstrap files, the archive schema, dbt models).
grant usage, create on schema public, analytics to mcp_admin;
grant all on all tables in schema public to mcp_admin;
grant all on all sequences in schema public to mcp_admin;
grant all on all tables in schema analytics to mcp_admin;
grant all on all sequences in schema analytics to mcp_admin;
alter default privileges grant all on tables to mcp_admin;
alter default privileges grant all on sequences to mcp_admin;
alter default privileges grant usage, create on schemas to mcp_admin;

do $$
begin
    -- needs membership in mcp_admin (or superuser); 020 arranged that where it could
    alter default privileges for role mcp_admin in schema analytics
    grant select on tables to mcp_analyst;
exception when insufficient_privilege then
    raise warning 'default privileges for role mcp_admin not set: %', sqlerrm;
end
$$;

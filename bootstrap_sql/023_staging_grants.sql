-- Analysts read the dbt staging views too (issue 6: "SELECT on the analytics marts and
-- staging"). dbt puts them in schema analytics_staging (target schema + `+schema: staging`);
-- they are views over the raw tables that leave out secret columns, and a view reads with
-- its owner's rights, so analysts still hold no privilege on a raw table.
create schema if not exists analytics_staging;

grant usage on schema analytics_staging to mcp_analyst, mcp_admin;
grant create on schema analytics_staging to mcp_admin;
grant select on all tables in schema analytics_staging to mcp_analyst;
grant all on all tables in schema analytics_staging to mcp_admin;
alter default privileges in schema analytics_staging grant select on tables to mcp_analyst;

do $$
begin
    alter default privileges for role mcp_admin in schema analytics_staging
    grant select on tables to mcp_analyst;
exception when insufficient_privilege then
    raise warning 'default privileges for role mcp_admin not set: %', sqlerrm;
end
$$;

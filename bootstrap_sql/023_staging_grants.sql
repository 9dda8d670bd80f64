-- dbt staging views live in schema analytics_staging (target schema + `+schema: staging`).
-- Analysts may read them (issue 6: "SELECT on the analytics marts and staging"), but model by
-- model: dbt grants SELECT to mcp_analyst on the telemetry staging views (`+grants` in
-- dbt_project.yml). No default privilege here, because staging also holds views over users,
-- sessions and system_configuration, and a view reads with its owner's rights: a blanket grant
-- would walk analysts past the grants and row-level security that keep them out of those tables.
create schema if not exists analytics_staging;

grant usage on schema analytics_staging to mcp_analyst, mcp_admin;
grant create on schema analytics_staging to mcp_admin;
grant all on all tables in schema analytics_staging to mcp_admin;

-- Label widths from what producers send, and the original of any value cut to fit.
--
-- The seed's widths lost whole rows: a tool name of 101-128 characters (MCP allows 128), a
-- version with SemVer pre-release or build metadata (`1.4.2-17-g3f2a9c1-dirty`), an error class
-- name, a metric name OpenTelemetry allows. Where a standard allows more, the column is widened
-- to it; where no standard bounds a value, the width stays and the ingest path stores the value
-- cut with a marker (events.py, docs/ingest.md "Length limits"), keeping the whole original in
-- `original_values`. No row is refused for the length of a label.
--
--   tool_name         100 -> 128  MCP tool names: 1 to 128 characters
--   bcp_name          100 -> 255  MCP serverInfo.name: no limit (registry names are long)
--   tool_version,
--   client_version,
--   service_version    20 -> 256  SemVer: no limit; npm's node-semver refuses above 256
--   error_code,
--   error_type         50 -> 255  JSON-RPC codes, OpenTelemetry error.type (exception class
--                                 names such as org.springframework...HttpClientErrorException)
--   method             10 -> 32   HTTP methods are tokens (RFC 9110); IANA's longest is 17
--   metric_name       100 -> 255  OpenTelemetry instrument names: up to 255 characters
--   unit               20 -> 63   OpenTelemetry instrument units: up to 63 characters
--   service            50 -> 255  OpenTelemetry service.name: no limit
--   environment        20 -> 255  OpenTelemetry deployment.environment.name: no limit
--   deployment_id      50 -> 255  Kubernetes object names reach 253
--
-- Capped as before (cut with a marker): ids (execution, session, request, correlation, trace,
-- span: 255), operation (100), category (50), impact_level (20), measurement_type (50).
--
-- Views read the widened columns, and PostgreSQL refuses to change the type of a column a view
-- uses: the views in schema public (the seed's summaries of 009) are saved, dropped and created
-- again as they were (definition, indexes, privileges, populated or not); dbt's views (schemas
-- analytics*) are dropped and dbt creates them again on its next run; any other view stops this
-- file with a message naming it. Mart tables dbt already built get the same widths, so that
-- their contracts (dbt_project/models/marts/_marts__models.yml) hold.

create temporary table mcpa_widen (
    table_name text not null,
    column_name text not null,
    width integer not null
) on commit drop;

insert into mcpa_widen (table_name, column_name, width) values
('tool_usage_logs', 'tool_name', 128),
('tool_usage_logs', 'bcp_name', 255),
('tool_usage_logs', 'tool_version', 256),
('tool_usage_logs', 'error_code', 255),
('mcp_request_logs', 'method', 32),
('mcp_request_logs', 'client_version', 256),
('mcp_request_logs', 'error_type', 255),
('error_logs', 'error_code', 255),
('error_logs', 'service_version', 256),
('error_logs', 'environment', 255),
('error_logs', 'deployment_id', 255),
('performance_metrics', 'metric_name', 255),
('performance_metrics', 'unit', 63),
('performance_metrics', 'service', 255),
('performance_metrics', 'environment', 255);

-- Views (and views on them) that read the raw tables, deepest last.
create temporary table mcpa_dependent_views on commit drop as
with recursive dependents as (
    select distinct
        r.ev_class as view_oid,
        1 as depth
    from pg_depend as d
    inner join pg_rewrite as r on d.objid = r.oid
    where
        d.classid = 'pg_rewrite'::regclass
        and d.refclassid = 'pg_class'::regclass
        and d.refobjid in (
            'public.tool_usage_logs'::regclass,
            'public.mcp_request_logs'::regclass,
            'public.error_logs'::regclass,
            'public.performance_metrics'::regclass
        )
        and r.ev_class not in (
            'public.tool_usage_logs'::regclass,
            'public.mcp_request_logs'::regclass,
            'public.error_logs'::regclass,
            'public.performance_metrics'::regclass
        )
    union
    select
        r.ev_class as view_oid,
        dependents.depth + 1 as depth
    from dependents
    inner join pg_depend as d
        on d.refobjid = dependents.view_oid and d.refclassid = 'pg_class'::regclass
    inner join pg_rewrite as r on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass
    where r.ev_class <> dependents.view_oid and dependents.depth < 20
),

deepest as (
    select view_oid, max(depth) as depth
    from dependents
    group by view_oid
)

select
    c.oid as view_oid,
    n.nspname as schema_name,
    c.relname as view_name,
    c.relkind as kind,
    c.relispopulated as is_populated,
    deepest.depth,
    pg_get_viewdef(c.oid) as definition,
    obj_description(c.oid, 'pg_class') as view_comment,
    array(
        select pg_get_indexdef(i.indexrelid)
        from pg_index as i
        where i.indrelid = c.oid
        order by i.indexrelid
    ) as index_definitions,
    array(
        select format(
            'grant %s on %I.%I to %s',
            acl.privilege_type,
            n.nspname,
            c.relname,
            case when acl.grantee = 0 then 'public' else quote_ident(acl.grantee::regrole::text) end
        )
        from aclexplode(c.relacl) as acl
        where acl.grantee <> c.relowner
    ) as grants
from deepest
inner join pg_class as c on deepest.view_oid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid;

do $$
declare
    v record;
    w record;
begin
    for v in
        select d.schema_name, d.view_name
        from mcpa_dependent_views as d
        where d.schema_name <> 'public' and d.schema_name not like 'analytics%'
    loop
        raise exception 'view %.% reads a telemetry table whose columns this file widens',
            v.schema_name, v.view_name
            using
                errcode = 'dependent_objects_still_exist',
                hint = 'Save its definition, drop it, run the bootstrap again, then create it '
                'again (060_label_widths.sql).';
    end loop;

    -- Deepest first, so that a view is dropped before the view it reads.
    for v in
        select d.schema_name, d.view_name, d.kind
        from mcpa_dependent_views as d
        order by d.depth desc
    loop
        execute format(
            'drop %s if exists %I.%I',
            case when v.kind = 'm' then 'materialized view' else 'view' end,
            v.schema_name,
            v.view_name
        );
    end loop;

    for w in select * from mcpa_widen loop
        execute format(
            'alter table public.%I alter column %I type varchar(%s)',
            w.table_name, w.column_name, w.width
        );
    end loop;

    -- Mart tables dbt built (schemas analytics*) that carry these labels: same widths.
    for w in
        select distinct n.nspname, c.relname, a.attname, mw.width
        from mcpa_widen as mw
        inner join pg_attribute as a on a.attname = mw.column_name
        inner join pg_class as c on a.attrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        where
            n.nspname like 'analytics%'
            and c.relkind in ('r', 'p')
            and not c.relispartition
            and a.attnum > 0
            and not a.attisdropped
            and a.atttypid = 'varchar'::regtype
            and a.atttypmod - 4 < mw.width
    loop
        execute format(
            'alter table %I.%I alter column %I type varchar(%s)',
            w.nspname, w.relname, w.attname, w.width
        );
    end loop;

    -- The views of schema public as they were, shallowest first.
    for v in
        select d.*
        from mcpa_dependent_views as d
        where d.schema_name = 'public'
        order by d.depth
    loop
        execute format(
            'create %s %I.%I as %s %s',
            case when v.kind = 'm' then 'materialized view' else 'view' end,
            v.schema_name,
            v.view_name,
            rtrim(v.definition, '; ' || chr(10)),
            case when v.kind = 'm' then 'with no data' else '' end
        );
        if v.view_comment is not null then
            execute format(
                'comment on %s %I.%I is %L',
                case when v.kind = 'm' then 'materialized view' else 'view' end,
                v.schema_name,
                v.view_name,
                v.view_comment
            );
        end if;
        for w in select unnest(v.index_definitions) as statement loop
            execute w.statement;
        end loop;
        for w in select unnest(v.grants) as statement loop
            execute w.statement;
        end loop;
        if v.kind = 'm' and v.is_populated then
            execute format('refresh materialized view %I.%I', v.schema_name, v.view_name);
        end if;
    end loop;
end
$$;

-- The original of every value the ingest path cut to fit its column, by column name:
-- {"tool_version": "1.4.2-...-dirty"}; null when nothing was cut (docs/ingest.md).
do $$
declare
    raw_table text;
begin
    foreach raw_table in array array[
        'tool_usage_logs', 'mcp_request_logs', 'error_logs', 'performance_metrics'
    ] loop
        execute format('alter table %I add column original_values jsonb', raw_table);
        execute format(
            'comment on column %I.original_values is %L',
            raw_table,
            'Originals of values cut to fit their column ({"column": "original"}); null when '
            'none was cut.'
        );
    end loop;
end;
$$;

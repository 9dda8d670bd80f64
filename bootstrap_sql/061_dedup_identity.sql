-- Deduplication keys cover every identity column; a row whose key is taken by a row with other
-- values is a conflict, reported, never dropped as a duplicate.
--
-- performance_metrics deduplicated samples on (metric_name, aggregation_period, "timestamp",
-- labels) only: per-minute samples of one metric from two services or two environments share
-- all four, and all but the first were dropped. error_logs' event key (030) ignored where an
-- error came from (environment, service version, deployment). Both keys now include them; the
-- text parts are hashed part by part (md5 of each, then of the concatenation, so that no two
-- different tuples concatenate alike) to keep index entries small whatever the widths.
-- tool_usage_logs (execution_id, "timestamp") and mcp_request_logs (request_id, "timestamp")
-- keep their keys: those ids are the events' identities (the collector mints UUIDs, the MCP
-- instrumentation scopes JSON-RPC ids with the session), and two events that share one are a
-- conflict, which ingest_staged_conflicts() below makes visible.
--
-- Each new key is finer than the one it replaces, so existing rows cannot violate it. The seed's
-- and 030's index names are kept.

create unique index idx_performance_metrics_sample_key on performance_metrics (
    metric_name,
    aggregation_period,
    "timestamp",
    md5(
        md5(coalesce(labels::text, 'null'))
        || md5(coalesce(service, ''))
        || md5(coalesce(environment, ''))
    )
);
drop index idx_performance_metrics_unique;
alter index idx_performance_metrics_sample_key rename to idx_performance_metrics_unique;

comment on index idx_performance_metrics_unique is
'One sample per metric, period, instant, label set, service and environment (dedup key).';

create unique index idx_error_logs_event_identity on error_logs (
    "timestamp",
    level,
    md5(
        md5(message)
        || md5(coalesce(request_id, ''))
        || md5(coalesce(execution_id, ''))
        || md5(coalesce(session_id, ''))
        || md5(coalesce(environment, ''))
        || md5(coalesce(service_version, ''))
        || md5(coalesce(deployment_id, ''))
    )
);
drop index idx_error_logs_event_key;
alter index idx_error_logs_event_identity rename to idx_error_logs_event_key;

comment on index idx_error_logs_event_key is
'One error event per instant, level, message, request/execution/session and source '
'(environment, service_version, deployment_id): the dedup key of error_logs.';

-- The writer copies a batch into a temporary staging table (pg_temp.mcpa_stage_<table>, with an
-- ordinal column mcpa_ord in COPY order) and inserts it with `on conflict do nothing`. When fewer
-- rows went in than were staged, it calls this function to tell duplicates (a stored row with
-- the same key and the same values: a retry, a reload) from conflicts (same key, other values).
-- Returns one row per staged row that is not identical to the stored row of its key: its index
-- in the batch (0-based), and the columns that differ (null: no stored row has its key, so
-- another unique index refused it).
--
-- SECURITY DEFINER because the ingest role may not read the raw tables. What it learns is whether
-- a row it sends equals the stored one, knowing that row's key (which `on conflict do nothing`
-- already tells it exists); docs/security.md. The staging table is the caller's own; the ingest
-- session grants SELECT on it to mcp_admin so that a non-superuser owner can read it here.
create function ingest_staged_conflicts(p_table text)
returns table (row_index bigint, differing text [])
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    v_stage regclass;
    v_target regclass;
    v_key text;
    v_compare text;
begin
    v_key := case p_table
        when 'tool_usage_logs' then
            's.execution_id = t.execution_id and s."timestamp" = t."timestamp"'
        when 'mcp_request_logs' then
            's.request_id = t.request_id and s."timestamp" = t."timestamp"'
        when 'performance_metrics' then
            's.metric_name = t.metric_name and s.aggregation_period = t.aggregation_period'
            ' and s."timestamp" = t."timestamp"'
            ' and md5(md5(coalesce(s.labels::text, ''null'')) || md5(coalesce(s.service, ''''))'
            ' || md5(coalesce(s.environment, '''')))'
            ' = md5(md5(coalesce(t.labels::text, ''null'')) || md5(coalesce(t.service, ''''))'
            ' || md5(coalesce(t.environment, '''')))'
        when 'error_logs' then
            's."timestamp" = t."timestamp" and s.level = t.level'
            ' and md5(md5(s.message) || md5(coalesce(s.request_id, ''''))'
            ' || md5(coalesce(s.execution_id, '''')) || md5(coalesce(s.session_id, ''''))'
            ' || md5(coalesce(s.environment, '''')) || md5(coalesce(s.service_version, ''''))'
            ' || md5(coalesce(s.deployment_id, '''')))'
            ' = md5(md5(t.message) || md5(coalesce(t.request_id, ''''))'
            ' || md5(coalesce(t.execution_id, '''')) || md5(coalesce(t.session_id, ''''))'
            ' || md5(coalesce(t.environment, '''')) || md5(coalesce(t.service_version, ''''))'
            ' || md5(coalesce(t.deployment_id, '''')))'
    end;
    if v_key is null then
        raise exception 'ingest_staged_conflicts: % is not a telemetry table', p_table
            using errcode = 'invalid_parameter_value';
    end if;
    v_target := format('public.%I', p_table)::regclass;
    v_stage := to_regclass(format('pg_temp.%I', 'mcpa_stage_' || p_table));
    if v_stage is null then
        raise exception 'ingest_staged_conflicts: this session has no staging table for %', p_table
            using errcode = 'undefined_table';
    end if;

    -- Every column the batch carries (the staging table's, but its ordinal) is compared.
    select string_agg(
        format('case when s.%1$I is distinct from t.%1$I then %1$L end', sa.attname),
        ', '
        order by sa.attnum
    )
    into v_compare
    from pg_attribute as sa
    inner join pg_attribute as ta
        on ta.attrelid = v_target and sa.attname = ta.attname and not ta.attisdropped
    where
        sa.attrelid = v_stage
        and sa.attnum > 0
        and not sa.attisdropped
        and sa.attname <> 'mcpa_ord';

    return query execute format(
        'select compared.row_index, compared.differing from ('
        ' select s.mcpa_ord - first_row.ord as row_index,'
        '  case when t.ctid is null then null else array_remove(array[%s], null) end'
        '   as differing'
        ' from %s as s'
        ' cross join (select min(mcpa_ord) as ord from %s) as first_row'
        ' left join %s as t on %s'
        ') as compared'
        ' where compared.differing is null or cardinality(compared.differing) > 0'
        ' order by compared.row_index',
        v_compare, v_stage, v_stage, v_target, v_key
    );
end;
$$;

revoke all on function ingest_staged_conflicts(text) from public;
grant execute on function ingest_staged_conflicts(text) to mcp_ingest, mcp_admin;

comment on function ingest_staged_conflicts(text) is
'For the batch in pg_temp.mcpa_stage_<table>: the staged rows (0-based index) whose dedup key '
'matches a stored row with other values (conflicts), and the columns that differ.';

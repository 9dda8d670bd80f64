-- Data retention (seed: "Data Cleanup Procedure"), rebuilt so that it runs and does what the
-- policy table says. All retention logic lives here, in apply_retention(); the seed's
-- cleanup_old_data(), the dbt macro `apply_retention` and `mcp-analytics retention` all call it.
--
-- Fixed against the seed:
--  * the seed's function failed at once (RETURNS TABLE(table_name text ...) but returned
--    varchar), hit CASE_NOT_FOUND for any table it did not hard-code and left `deleted` unset;
--  * archive_before_delete was ignored: rows are now archived (schema `archive`) and verified by
--    row count before anything is removed;
--  * partitioned tables lose whole monthly partitions (detach), not rows one by one;
--  * cleanup_batch_size is honoured (batched deletes), cleanup_enabled too, every table named in
--    a policy is supported (schema-qualified names, identifiers quoted, unknown table = error);
--  * sessions go by expires_at: deleted once expired for more than retention_days.

create schema if not exists archive;

comment on schema archive is
'Rows and partitions removed from the warehouse by retention, kept until exported to Parquet '
'(see archive.archived_partitions).';

-- One row per archive table: a detached partition moved here as is (kind 'partition'), or the
-- rows one retention run copied out of a DEFAULT partition or a plain table (kind 'rows').
-- The Parquet export writes each table whose exported_at is null, verifies the count, sets
-- exported_at/export_path and drops the table; the catalog row stays as the record.
create table archive.archived_partitions (
    id bigserial primary key,
    source_schema text not null,
    source_table text not null,
    archive_schema text not null default 'archive',
    archive_table text not null,
    kind text not null check (kind in ('partition', 'rows')),
    range_from timestamptz,
    range_to timestamptz,
    row_count bigint not null check (row_count >= 0),
    archived_at timestamptz not null default now(),
    exported_at timestamptz,
    export_path text
);

create index idx_archived_partitions_pending on archive.archived_partitions (archived_at)
where exported_at is null;
create index idx_archived_partitions_source on archive.archived_partitions (
    source_schema, source_table, range_from
);

comment on table archive.archived_partitions is
'Catalog of archive tables written by apply_retention(): source, range, verified row count, '
'and when the table was exported to Parquet (exported_at, export_path; null = not yet).';
comment on column archive.archived_partitions.range_from is
'kind partition: lower bound of the partition; kind rows: oldest time value archived.';
comment on column archive.archived_partitions.range_to is
'kind partition: upper bound (exclusive) of the partition; kind rows: the cutoff (exclusive).';

-- Which column dates a row. NULL: the partition key of a partitioned table, else "timestamp".
alter table data_retention_policies add column time_column text;

comment on column data_retention_policies.time_column is
'Column compared with the cutoff (now() - retention_days). NULL: the partition key for a '
'partitioned table, else a column named "timestamp".';
comment on column data_retention_policies.table_name is
'Table the policy applies to, optionally schema-qualified (e.g. analytics.daily_error_summary); '
'resolved with the search_path like any table name. A policy naming no existing table makes '
'apply_retention() fail before it changes anything.';

update data_retention_policies as p
set time_column = case p.table_name when 'sessions' then 'expires_at' else 'timestamp' end
where p.table_name in (
    'tool_usage_logs', 'mcp_request_logs', 'error_logs', 'performance_metrics', 'sessions'
);

-- The one advisory lock key of the warehouse writers (dbt builds are driven under it; retention
-- takes it). Two-int form, agreed in notes/coordination.md.
create or replace function warehouse_lock_key(out classid integer, out objid integer)
language sql
immutable
as $$
    select hashtext('mcp_analytics'), hashtext('warehouse')
$$;

comment on function warehouse_lock_key() is
'Advisory lock key (classid, objid) held by whoever writes the warehouse: a dbt build, '
'apply_retention(). Use pg_advisory_lock(classid, objid) or pg_advisory_xact_lock(classid, objid).';

-- Resolve and check the table of one policy. Raises a clear error for anything unusable.
create or replace function retention_target(
    p_table_name text,
    p_time_column text,
    out rel oid,
    out rel_schema text,
    out rel_name text,
    out is_partitioned boolean,
    out time_column text
)
language plpgsql
stable
as $$
declare
    v_kind "char";
    v_type regtype;
begin
    begin
        rel := to_regclass(p_table_name);
    exception when others then
        -- to_regclass still raises on a malformed name ("a.b.c.d", unbalanced quotes)
        raise exception 'retention policy names %, which is not a valid table name', p_table_name
            using errcode = 'invalid_name',
                  hint = 'data_retention_policies.table_name holds [schema.]table';
    end;
    if rel is null then
        raise exception 'retention policy names table %, which does not exist', p_table_name
            using errcode = 'undefined_table',
                  hint = 'Fix or delete the row in data_retention_policies; nothing was changed.';
    end if;

    select n.nspname, c.relname, c.relkind into rel_schema, rel_name, v_kind
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where c.oid = rel;

    if v_kind not in ('r', 'p') then
        raise exception 'retention policy names %, which is not a table', p_table_name
            using errcode = 'wrong_object_type';
    end if;
    if rel_schema in ('pg_catalog', 'information_schema', 'archive') or rel_schema like 'pg\_%' then
        raise exception 'retention policy names %.%, in schema % where retention never deletes',
            rel_schema, rel_name, rel_schema
            using errcode = 'insufficient_privilege';
    end if;

    is_partitioned := v_kind = 'p';
    time_column := p_time_column;
    if is_partitioned then
        select a.attname into time_column
        from pg_partitioned_table as pt
        inner join pg_attribute as a on pt.partrelid = a.attrelid and a.attnum = pt.partattrs[0]
        where pt.partrelid = rel and pt.partstrat = 'r' and pt.partnatts = 1;
        if time_column is null then
            raise exception 'retention: %.% is not range-partitioned on one column',
                rel_schema, rel_name
                using errcode = 'wrong_object_type';
        end if;
        if p_time_column is not null and p_time_column <> time_column then
            raise exception 'retention policy for %.% names time column %, but the table is '
                'partitioned by %', rel_schema, rel_name, p_time_column, time_column
                using errcode = 'invalid_parameter_value';
        end if;
    end if;

    select a.atttypid::regtype into v_type
    from pg_attribute as a
    where a.attrelid = rel and a.attname = coalesce(time_column, 'timestamp')
        and a.attnum > 0 and not a.attisdropped;
    if v_type is null then
        raise exception 'retention policy for %.%: column % does not exist',
            rel_schema, rel_name, coalesce(time_column, 'timestamp')
            using errcode = 'undefined_column',
                  hint = 'Set data_retention_policies.time_column to the column that dates a row.';
    end if;
    if v_type not in (
        'timestamp with time zone'::regtype, 'timestamp without time zone'::regtype, 'date'::regtype
    ) then
        raise exception 'retention policy for %.%: column % is of type %, not a timestamp or date',
            rel_schema, rel_name, coalesce(time_column, 'timestamp'), v_type
            using errcode = 'datatype_mismatch';
    end if;
    time_column := coalesce(time_column, 'timestamp');
end;
$$;

-- A free name for a new table in schema archive: p_base, else p_base_2, p_base_3, ... When the
-- name is not p_base itself, it must also be free in p_also_schema (where a partition is renamed
-- before it moves).
create or replace function retention_archive_name(p_base text, p_also_schema text default null)
returns text
language plpgsql
stable
as $$
declare
    v_name text := left(p_base, 63);
    v_n integer := 1;
begin
    while exists (
        select 1 from pg_class as c
        inner join pg_namespace as n on c.relnamespace = n.oid
        where c.relname = v_name
            and (n.nspname = 'archive' or (n.nspname = p_also_schema and v_name <> p_base))
    ) loop
        v_n := v_n + 1;
        v_name := left(p_base, 56) || '_' || v_n;
    end loop;
    return v_name;
end;
$$;

-- The policies' table names in the order retention processes them (all policies, or the one for
-- p_table), after checking every enabled one: a bad policy raises here, before anything moves.
-- Callers that want one transaction per table (mcp-analytics retention, the dbt macro) call this
-- first, then apply_retention(false, <name>) for each name.
create or replace function retention_policy_tables(p_table text default null)
returns setof text
language plpgsql
stable
as $$
declare
    pol record;
begin
    if p_table is not null and not exists (
        select 1 from data_retention_policies as d where d.table_name = p_table
    ) then
        raise exception 'no retention policy for table %', p_table
            using errcode = 'no_data_found';
    end if;
    for pol in
        select d.table_name, d.time_column, d.cleanup_batch_size, d.cleanup_enabled
        from data_retention_policies as d
        where p_table is null or d.table_name = p_table
        order by d.table_name
    loop
        if coalesce(pol.cleanup_enabled, true) then
            perform retention_target(pol.table_name, pol.time_column);
            if pol.cleanup_batch_size is not null and pol.cleanup_batch_size < 1 then
                raise exception 'retention policy for %: cleanup_batch_size must be positive, got %',
                    pol.table_name, pol.cleanup_batch_size
                    using errcode = 'invalid_parameter_value';
            end if;
        end if;
        return next pol.table_name::text;
    end loop;
end;
$$;

create or replace function apply_retention(
    p_dry_run boolean default false,
    p_table text default null
)
returns table (
    table_name text,
    action text,
    partitions_detached integer,
    rows_archived bigint,
    rows_deleted bigint,
    cutoff timestamptz,
    duration_ms integer,
    dry_run boolean,
    detail text
)
language plpgsql
-- No `set mcp_analytics.retention = 'on'` clause: a non-superuser may not declare one on a
-- custom parameter. 041 renames this function apply_retention_unflagged() and wraps it in an
-- apply_retention() that turns the flag on for the call (late-data triggers skip retention).
as $$
#variable_conflict use_column
declare
    pol record;
    tgt record;
    part record;
    v_started timestamptz;
    v_cutoff timestamptz;
    v_batch integer;
    v_archive boolean;
    v_details text[];
    v_parts integer;
    v_archived bigint;
    v_deleted bigint;
    v_bounds text[];
    v_from timestamptz;
    v_to timestamptz;
    v_count bigint;
    v_check bigint;
    v_batch_rows bigint;
    v_total bigint;
    v_min timestamptz;
    v_name text;
    v_cols text;
    v_where text;
    v_leaf_schema text;
    v_leaf_name text;
    v_locked_parent boolean;
    v_fk record;
    v_idx record;
    v_sql text;
    v_tid tid;
    v_ctids tid[];
begin
    if not p_dry_run then
        -- Serialise with dbt builds and with other retention runs (re-entrant for a caller
        -- that already holds the key).
        perform pg_advisory_xact_lock(k.classid, k.objid) from warehouse_lock_key() as k;
    end if;

    -- Validate every policy first: one bad row stops the run before anything is removed.
    perform retention_policy_tables(p_table);

    for pol in
        select
            d.table_name,
            d.retention_days,
            coalesce(d.archive_before_delete, true) as archive_before_delete,
            coalesce(d.cleanup_enabled, true) as cleanup_enabled,
            coalesce(d.cleanup_batch_size, 1000) as cleanup_batch_size,
            d.time_column
        from data_retention_policies as d
        where p_table is null or d.table_name = p_table
        order by d.table_name
    loop
        v_started := clock_timestamp();
        v_cutoff := now() - make_interval(days => pol.retention_days);
        v_archive := pol.archive_before_delete;
        v_batch := pol.cleanup_batch_size;
        v_details := array[]::text[];
        v_parts := 0;
        v_archived := 0;
        v_deleted := 0;

        table_name := pol.table_name::text;
        cutoff := v_cutoff;
        dry_run := p_dry_run;

        if not pol.cleanup_enabled then
            action := 'disabled';
            partitions_detached := 0;
            rows_archived := 0;
            rows_deleted := 0;
            duration_ms := 0;
            detail := 'cleanup_enabled is false';
            raise notice 'retention %: skipped (cleanup_enabled is false)', pol.table_name;
            return next;
            continue;
        end if;

        select * into tgt from retention_target(pol.table_name, pol.time_column);
        action := case when v_archive then 'archive' else 'delete' end;
        raise notice 'retention %.%: % rows with % < % (% days)%',
            tgt.rel_schema, tgt.rel_name, action, tgt.time_column, v_cutoff, pol.retention_days,
            case when p_dry_run then ' [dry run]' else '' end;

        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_cols
        from pg_attribute as a
        where a.attrelid = tgt.rel and a.attnum > 0 and not a.attisdropped;

        v_leaf_schema := null;
        v_leaf_name := null;

        if tgt.is_partitioned then
            v_locked_parent := false;
            -- Whole partitions whose upper bound is at or before the cutoff.
            for part in
                select
                    n.nspname as part_schema,
                    c.relname as part_name,
                    pg_get_expr(c.relpartbound, c.oid) as bound
                from pg_inherits as i
                inner join pg_class as c on i.inhrelid = c.oid
                inner join pg_namespace as n on c.relnamespace = n.oid
                where i.inhparent = tgt.rel
                order by c.relname
            loop
                if part.bound = 'DEFAULT' then
                    v_leaf_schema := part.part_schema;
                    v_leaf_name := part.part_name;
                    continue;
                end if;
                -- MINVALUE/MAXVALUE bounds do not match and are never detached.
                v_bounds := regexp_match(
                    part.bound, '^FOR VALUES FROM \(''([^'']*)''\) TO \(''([^'']*)''\)$'
                );
                if v_bounds is null then
                    continue;
                end if;
                v_from := v_bounds[1]::timestamptz;
                v_to := v_bounds[2]::timestamptz;
                if v_to > v_cutoff then
                    continue;
                end if;

                if not p_dry_run and not v_locked_parent then
                    -- Detach needs this lock anyway; taking it before counting means no row
                    -- can arrive between the count and the detach.
                    execute format(
                        'lock table %I.%I in access exclusive mode', tgt.rel_schema, tgt.rel_name
                    );
                    v_locked_parent := true;
                end if;
                execute format('select count(*) from %I.%I', part.part_schema, part.part_name)
                into v_count;

                if p_dry_run then
                    v_details := v_details || format(
                        'would %s partition %s (%s rows)',
                        case when v_archive and v_count > 0 then 'archive' else 'drop' end,
                        part.part_name, v_count
                    );
                elsif v_archive and v_count > 0 then
                    execute format(
                        'alter table %I.%I detach partition %I.%I',
                        tgt.rel_schema, tgt.rel_name, part.part_schema, part.part_name
                    );
                    v_name := retention_archive_name(part.part_name, part.part_schema);
                    if v_name <> part.part_name then
                        execute format(
                            'alter table %I.%I rename to %I', part.part_schema, part.part_name, v_name
                        );
                    end if;
                    -- Index names travel with the table: an earlier archive of the same month
                    -- (not yet exported) may hold them already.
                    for v_idx in
                        select ic.relname as index_name
                        from pg_index as ix
                        inner join pg_class as ic on ix.indexrelid = ic.oid
                        where ix.indrelid = format('%I.%I', part.part_schema, v_name)::regclass
                            and exists (
                                select 1 from pg_class as c
                                where c.relname = ic.relname
                                    and c.relnamespace = 'archive'::regnamespace
                            )
                    loop
                        execute format(
                            'alter index %I.%I rename to %I', part.part_schema, v_idx.index_name,
                            retention_archive_name(v_idx.index_name, part.part_schema)
                        );
                    end loop;
                    execute format('alter table %I.%I set schema archive', part.part_schema, v_name);
                    -- An archive is a snapshot: it must not block deleting a user it mentions.
                    for v_fk in
                        select con.conname from pg_constraint as con
                        where con.conrelid = format('archive.%I', v_name)::regclass
                            and con.contype = 'f'
                    loop
                        execute format(
                            'alter table archive.%I drop constraint %I', v_name, v_fk.conname
                        );
                    end loop;
                    execute format('select count(*) from archive.%I', v_name) into v_check;
                    if v_check <> v_count then
                        raise exception 'retention %.%: archived partition archive.% holds % rows, '
                            'expected %; nothing was changed', tgt.rel_schema, tgt.rel_name,
                            v_name, v_check, v_count;
                    end if;
                    insert into archive.archived_partitions (
                        source_schema, source_table, archive_table, kind,
                        range_from, range_to, row_count
                    ) values (
                        tgt.rel_schema, tgt.rel_name, v_name, 'partition', v_from, v_to, v_count
                    );
                    v_details := v_details || format(
                        'partition %s (%s rows) -> archive.%s', part.part_name, v_count, v_name
                    );
                    raise notice 'retention %.%: partition % (% rows) moved to archive.%',
                        tgt.rel_schema, tgt.rel_name, part.part_name, v_count, v_name;
                else
                    execute format(
                        'alter table %I.%I detach partition %I.%I',
                        tgt.rel_schema, tgt.rel_name, part.part_schema, part.part_name
                    );
                    execute format('drop table %I.%I', part.part_schema, part.part_name);
                    -- (an empty partition is dropped even under archive_before_delete:
                    -- there is nothing to archive)
                    v_details := v_details || format(
                        'partition %s (%s rows) dropped', part.part_name, v_count
                    );
                    raise notice 'retention %.%: partition % (% rows) dropped',
                        tgt.rel_schema, tgt.rel_name, part.part_name, v_count;
                end if;
                v_parts := v_parts + 1;
                v_deleted := v_deleted + v_count;
                if v_archive then
                    v_archived := v_archived + v_count;
                end if;
            end loop;
        else
            v_leaf_schema := tgt.rel_schema;
            v_leaf_name := tgt.rel_name;
        end if;

        -- Rows of a plain table, or of the DEFAULT partition, older than the cutoff.
        if v_leaf_name is not null then
            v_where := format('%I < %L', tgt.time_column, v_cutoff);
            if tgt.rel_name = 'error_logs' then
                -- Unresolved errors are kept whatever their age (resolved null = unresolved).
                v_where := v_where || ' and resolved is true';
            end if;

            -- No table lock here: ingestion goes on while old rows leave. The count is what a
            -- dry run reports; the verification below compares what left with what arrived.
            execute format(
                'select count(*), min(%I)::timestamptz from %I.%I where %s',
                tgt.time_column, v_leaf_schema, v_leaf_name, v_where
            ) into v_count, v_min;

            if v_count > 0 and p_dry_run then
                v_details := v_details || format(
                    'would %s %s rows of %s', action, v_count, v_leaf_name
                );
            elsif v_count > 0 then
                v_total := 0;
                if v_archive then
                    v_name := retention_archive_name(
                        case when tgt.rel_schema = 'public' then '' else tgt.rel_schema || '_' end
                        || tgt.rel_name || '_rows_'
                        || to_char(now() at time zone 'UTC', 'YYYYMMDD_HH24MISS')
                    );
                    execute format(
                        'create table archive.%I (like %I.%I)', v_name, tgt.rel_schema, tgt.rel_name
                    );
                    -- Copy and delete in one statement: a row leaves only as it is archived.
                    v_sql := format(
                        'with doomed as (delete from %I.%I where ctid = any($1) and %s returning %s) '
                        'insert into archive.%I (%s) select %s from doomed',
                        v_leaf_schema, v_leaf_name, v_where, v_cols, v_name, v_cols, v_cols
                    );
                else
                    v_sql := format(
                        'delete from %I.%I where ctid = any($1) and %s',
                        v_leaf_schema, v_leaf_name, v_where
                    );
                end if;
                -- One pass over the table collects the doomed rows' ctids; each batch of
                -- cleanup_batch_size is then deleted by ctid (a TID scan). Re-querying "where old
                -- limit n" for every batch would rescan the dead rows of the batches before it.
                v_ctids := array[]::tid[];
                for v_tid in execute format(
                    'select ctid from %I.%I where %s', v_leaf_schema, v_leaf_name, v_where
                ) loop
                    v_ctids := v_ctids || v_tid;
                    if cardinality(v_ctids) >= v_batch then
                        execute v_sql using v_ctids;
                        get diagnostics v_batch_rows = row_count;
                        v_total := v_total + v_batch_rows;
                        raise debug 'retention %: batch of % rows', v_leaf_name, v_batch_rows;
                        v_ctids := array[]::tid[];
                    end if;
                end loop;
                if cardinality(v_ctids) > 0 then
                    execute v_sql using v_ctids;
                    get diagnostics v_batch_rows = row_count;
                    v_total := v_total + v_batch_rows;
                    raise debug 'retention %: batch of % rows', v_leaf_name, v_batch_rows;
                end if;

                if v_archive then
                    execute format('select count(*) from archive.%I', v_name) into v_check;
                    if v_check <> v_total then
                        raise exception 'retention %.%: deleted % rows but archive.% holds %; '
                            'nothing was changed', tgt.rel_schema, tgt.rel_name,
                            v_total, v_name, v_check;
                    end if;
                    insert into archive.archived_partitions (
                        source_schema, source_table, archive_table, kind,
                        range_from, range_to, row_count
                    ) values (
                        tgt.rel_schema, tgt.rel_name, v_name, 'rows', v_min, v_cutoff, v_total
                    );
                    v_archived := v_archived + v_total;
                    v_details := v_details || format(
                        '%s rows of %s -> archive.%s', v_total, v_leaf_name, v_name
                    );
                else
                    v_details := v_details || format(
                        '%s rows of %s deleted', v_total, v_leaf_name
                    );
                end if;
                v_deleted := v_deleted + v_total;
                raise notice 'retention %.%: % rows of % %', tgt.rel_schema, tgt.rel_name, v_total,
                    v_leaf_name, case when v_archive then 'archived and deleted' else 'deleted' end;
            end if;
            if v_count > 0 and p_dry_run then
                v_deleted := v_deleted + v_count;
                if v_archive then
                    v_archived := v_archived + v_count;
                end if;
            end if;
        end if;

        partitions_detached := v_parts;
        rows_archived := v_archived;
        rows_deleted := v_deleted;
        duration_ms := (extract(epoch from clock_timestamp() - v_started) * 1000)::integer;
        detail := coalesce(nullif(array_to_string(v_details, '; '), ''), 'nothing older than cutoff');

        if not p_dry_run then
            update data_retention_policies as d
            set
                last_cleanup = now(),
                last_cleanup_count = v_deleted,
                last_cleanup_duration_ms = duration_ms
            where d.table_name = pol.table_name;
        end if;
        raise notice 'retention %.%: % partition(s), % row(s) % in % ms',
            tgt.rel_schema, tgt.rel_name, v_parts, v_deleted,
            case when p_dry_run then 'would go' when v_archive then 'archived' else 'deleted' end,
            duration_ms;
        return next;
    end loop;
end;
$$;

comment on function apply_retention(boolean, text) is
'Applies data_retention_policies (all, or only p_table): detaches whole partitions past the '
'cutoff, archives (verified) or deletes old rows in batches, records last_cleanup*. '
'p_dry_run reports what would go and changes nothing. One row per policy.';

-- The seed's entry point, same name and result shape, now a wrapper over apply_retention().
create or replace function cleanup_old_data()
returns table (table_name text, deleted_count bigint, execution_time_ms integer)
language sql
as $$
    select r.table_name, r.rows_deleted, r.duration_ms
    from apply_retention(false) as r
    where r.action <> 'disabled'
$$;

comment on function cleanup_old_data() is
'Seed-compatible retention entry point: apply_retention(false) for the enabled policies, as '
'(table_name, deleted_count, execution_time_ms).';

-- Only administrators run retention (it needs DELETE on every raw table anyway; this makes a
-- wrong role fail at once with a clear "permission denied for function").
revoke execute on function
    apply_retention(boolean, text), cleanup_old_data(), retention_policy_tables(text),
    retention_target(text, text), retention_archive_name(text, text)
from public;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'mcp_admin') then
        grant execute on function
            apply_retention(boolean, text), cleanup_old_data(), retention_policy_tables(text),
            retention_target(text, text), retention_archive_name(text, text)
        to mcp_admin;
    end if;
end
$$;

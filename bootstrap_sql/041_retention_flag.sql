-- apply_retention() without its SET clause (040 declared `set mcp_analytics.retention = 'on'`).
--
-- A function may carry a SET clause on a custom (placeholder) parameter only if its creator is a
-- superuser or holds SET on that parameter (PostgreSQL 15+: GRANT SET ON PARAMETER). That held
-- for 040 at bootstrap time (bootstrap.py checks it before applying anything), but the clause
-- would stay in the catalog, and re-creating the function as it is (a non-superuser restoring
-- a dump of the database) would need the grant again. Here the body sets the flag
-- with set_config(..., true) and puts the caller's value back at the end; behaviour is the
-- same: on during the call, as before after it, rolled back with the (sub)transaction on error.
--
-- The body is 040's otherwise unchanged. CREATE OR REPLACE keeps the owner, the grants of 040
-- (execute for mcp_admin only) and the comment.

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
    v_flag_before text;
begin
    -- Late-data triggers skip rows removed by retention (they must not mark summaries dirty):
    -- the flag is on for this call only. Set here rather than by a SET clause, which a
    -- non-superuser may not declare on a custom parameter (see the header).
    v_flag_before := current_setting('mcp_analytics.retention', true);
    perform set_config('mcp_analytics.retention', 'on', true);

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

    -- Put the caller's value back (a plpgsql set-returning function runs to completion before
    -- its caller sees a row). On an error the (sub)transaction rollback restores it instead.
    perform set_config('mcp_analytics.retention', coalesce(v_flag_before, ''), true);
end;
$$;

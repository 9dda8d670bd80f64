-- Locks and flags that only maintenance can hold.
--
-- 1. The late-data ledger's bypass. The triggers of 010 skipped marking dirty hours whenever the
--    session setting mcp_analytics.retention was 'on', and any role can set a custom setting:
--    the ingest login could write rows the marts never saw. The bypass now also needs a token
--    that apply_retention() writes for its own transaction into public.retention_bypass, a table
--    only its owner and mcp_admin may write. The setting alone changes nothing.
--
-- 2. The warehouse lock. Builds and retention serialised on an advisory lock, and any role may
--    take any advisory lock: an analyst holding the key stalled maintenance, which waited with no
--    timeout. The lock is now a table lock on public.warehouse_lock: LOCK TABLE in SHARE or
--    EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE on the table (or owning it), which only the
--    owner and mcp_admin have; analysts and ingest cannot take or block it. warehouse_lock()
--    takes it with a timeout and, when it gives up, names the sessions holding it. Builds hold it
--    SHARE (they run side by side), retention EXCLUSIVE. The advisory key of 040
--    (warehouse_lock_key()) is no longer waited on by retention. create_monthly_partitions()
--    serialises callers per table with a table lock too (SHARE UPDATE EXCLUSIVE on the parent,
--    which inserts do not conflict with and which the ingest role cannot take) instead of an
--    advisory key.
--
-- 3. Timeouts. Maintenance waits for a lock at most maintenance.lock_timeout_seconds (other
--    locks: an ingest session left idle in a transaction holds its table) or
--    maintenance.warehouse_lock_timeout_seconds (the warehouse lock: a build can take a while),
--    unless the session set a lock_timeout of its own; then it fails with a message that says
--    which lock and what to do. docs/security.md, docs/retention.md.

insert into system_configuration (config_key, config_value, description, config_type) values
(
    'maintenance.lock_timeout_seconds',
    '300',
    'Longest wait of retention and partition upkeep for a table lock held by another session',
    'maintenance'
),
(
    'maintenance.warehouse_lock_timeout_seconds',
    '3600',
    'Longest wait for the warehouse lock (held by dbt builds and retention runs)',
    'maintenance'
)
on conflict (config_key) do nothing;

-- A number of seconds from system_configuration as an interval (p_default when the key is
-- missing, hidden from the caller by row-level security, or not a positive number).
create function maintenance_seconds(p_key text, p_default numeric)
returns interval
language sql
stable
set search_path = pg_catalog, public
as $$
    select make_interval(secs => coalesce(
        (
            select (sc.config_value #>> '{}')::numeric
            from public.system_configuration as sc
            where
                sc.config_key = p_key
                and jsonb_typeof(sc.config_value) = 'number'
                and (sc.config_value #>> '{}')::numeric > 0
        ),
        p_default
    ))
$$;

-- The warehouse lock. No rows: only its lock matters.
create table warehouse_lock (
    held boolean primary key default true check (held)
);

comment on table warehouse_lock is
'Locked by warehouse_lock(): SHARE by dbt builds, EXCLUSIVE by retention. Only the owner and '
'mcp_admin have the privileges LOCK TABLE needs for those modes.';

revoke all on warehouse_lock from public;

-- Takes the warehouse lock for the current transaction: SHARE (p_shared: dbt builds, which run
-- side by side) or EXCLUSIVE (retention). When it is taken, says so in a NOTICE naming the
-- holders, then waits at most p_timeout (default: the session setting
-- mcp_analytics.warehouse_lock_timeout in seconds, else the session's lock_timeout when set,
-- else maintenance.warehouse_lock_timeout_seconds), then fails with SQLSTATE 55P03 naming
-- them. Re-entrant within a transaction. Runs with the caller's rights: a role without UPDATE,
-- DELETE or TRUNCATE on warehouse_lock gets "permission denied".
create function warehouse_lock(p_shared boolean default false, p_timeout interval default null)
returns void
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    v_before text := current_setting('lock_timeout');
    v_asked text := nullif(current_setting('mcp_analytics.warehouse_lock_timeout', true), '');
    v_timeout interval := p_timeout;
    v_mode text := case when p_shared then 'share' else 'exclusive' end;
    v_holders text;
begin
    if v_timeout is null then
        v_timeout := case
            when v_asked ~ '^[0-9]+(\.[0-9]+)?$' then make_interval(secs => v_asked::numeric)
            when v_before not in ('0', '0ms') then v_before::interval
            else public.maintenance_seconds('maintenance.warehouse_lock_timeout_seconds', 3600)
        end;
    end if;
    begin
        execute format('lock table public.warehouse_lock in %s mode nowait', v_mode);
        return;
    exception when lock_not_available then
        raise notice 'waiting for the warehouse lock (at most %), held by %', v_timeout,
            coalesce(public.warehouse_lock_holders(), 'a session that has finished since');
    end;
    perform set_config(
        'lock_timeout',
        greatest(1, (extract(epoch from v_timeout) * 1000)::bigint)::text,
        true
    );
    begin
        execute format('lock table public.warehouse_lock in %s mode', v_mode);
    exception when lock_not_available then
        v_holders := public.warehouse_lock_holders();
        raise exception 'warehouse lock: gave up waiting after % for the % lock; held by %',
            v_timeout,
            case when p_shared then 'shared (build)' else 'exclusive (retention)' end,
            coalesce(v_holders, 'a session that has finished since')
            using
                errcode = 'lock_not_available',
                hint = 'A dbt build or a retention run holds it. Let it finish and try again, or '
                'end that session (pg_terminate_backend). The wait is '
                'maintenance.warehouse_lock_timeout_seconds in system_configuration.';
    end;
    perform set_config('lock_timeout', v_before, true);
end;
$$;

-- Who holds the warehouse lock: "pid N (user U, application A, in a transaction since T)", or
-- null when nobody does.
create function warehouse_lock_holders()
returns text
language sql
stable
set search_path = pg_catalog, public
as $$
    select string_agg(
        format(
            'pid %s (user %s, %s, %s)',
            a.pid,
            coalesce(a.usename::text, '?'),
            coalesce(nullif(a.application_name, ''), 'no application name'),
            coalesce('in a transaction since ' || a.xact_start::text, 'state hidden')
        ),
        '; '
        order by a.pid
    )
    from pg_catalog.pg_locks as l
    inner join pg_catalog.pg_stat_activity as a on l.pid = a.pid
    where
        l.locktype = 'relation'
        and l.database = (select d.oid from pg_catalog.pg_database as d
            where d.datname = current_database())
        and l.relation = 'public.warehouse_lock'::regclass
        and l.granted
        and l.pid <> pg_backend_pid()
$$;

revoke all on function warehouse_lock(boolean, interval) from public;
grant execute on function warehouse_lock(boolean, interval) to mcp_admin;
revoke all on function warehouse_lock_holders() from public;
grant execute on function warehouse_lock_holders() to mcp_admin;

-- Two builds of one mart at once would both insert the same buckets: a build takes its mart's
-- rows of mart_sources FOR UPDATE (the dbt pre-hook), which needs UPDATE on mart_sources (the
-- owner's and mcp_admin's), where the advisory key of 050 (mart_lock_key()) could be held by
-- anyone. Waits like warehouse_lock(); a mart with no registered source locks nothing.
create function mart_lock(p_mart text, p_timeout interval default null)
returns void
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    v_before text := current_setting('lock_timeout');
    v_timeout interval := coalesce(
        p_timeout,
        case when v_before not in ('0', '0ms') then v_before::interval end,
        public.maintenance_seconds('maintenance.warehouse_lock_timeout_seconds', 3600)
    );
begin
    perform set_config(
        'lock_timeout', greatest(1, (extract(epoch from v_timeout) * 1000)::bigint)::text, true
    );
    begin
        perform 1 from public.mart_sources as s where s.mart = p_mart for update;
    exception when lock_not_available then
        raise exception 'mart %: gave up after % waiting for another build of it', p_mart, v_timeout
            using errcode = 'lock_not_available',
                  hint = 'Another dbt build of this mart is running; let it finish.';
    end;
    perform set_config('lock_timeout', v_before, true);
end;
$$;

revoke all on function mart_lock(text, interval) from public;
grant execute on function mart_lock(text, interval) to mcp_admin;

comment on function warehouse_lock(boolean, interval) is
'Takes the warehouse lock (SHARE for builds, EXCLUSIVE for retention) for this transaction, '
'waiting at most p_timeout; raises 55P03 naming the holders when it gives up.';

comment on function warehouse_lock_key() is
'The advisory key the warehouse lock used before 063; nothing waits on it any more (any role '
'could take it). Use warehouse_lock().';

-- Retention takes the warehouse table lock where 040 took the advisory key. The body of 040 is
-- kept as it is but for that one statement (no copy of its 300 lines), and the file refuses to
-- run if the statement is not there exactly once.
do $$
declare
    v_def text := pg_get_functiondef('apply_retention_unflagged(boolean, text)'::regprocedure);
    v_old text := 'perform pg_advisory_xact_lock(k.classid, k.objid) from warehouse_lock_key() as k;';
begin
    if array_length(string_to_array(v_def, v_old), 1) <> 2 then
        raise exception '063: apply_retention_unflagged() does not take the advisory lock as 040 '
            'wrote it; its lock cannot be replaced safely';
    end if;
    execute replace(v_def, v_old, 'perform public.warehouse_lock(false);');
end
$$;

-- Partition creation: a table lock per parent instead of an advisory key, and a bounded wait.
do $$
declare
    v_def text := pg_get_functiondef(
        'create_monthly_partitions(text, integer, integer)'::regprocedure
    );
    v_old_lock text := 'perform pg_advisory_xact_lock(hashtext(''mcp_analytics.partitions''), '
        'hashtext(parent_oid::text));';
    v_new_lock text := 'if current_setting(''lock_timeout'') in (''0'', ''0ms'') then
        perform set_config(''lock_timeout'', (extract(epoch from public.maintenance_seconds(
            ''maintenance.lock_timeout_seconds'', 300)) * 1000)::bigint::text, true);
    end if;
    execute format(''lock table %s in share update exclusive mode'', parent_oid::regclass);';
    v_old_end text := E'\n    return created_count;\nend;';
    v_new_end text := E'\n    return created_count;\nexception when lock_not_available then\n'
        '    raise exception ''create_monthly_partitions(%): gave up after % waiting for a lock '
        'on the table or its DEFAULT partition (%); nothing was changed'', table_name, '
        'case when current_setting(''lock_timeout'') in (''0'', ''0ms'') then '
        'public.maintenance_seconds(''maintenance.lock_timeout_seconds'', 300)::text '
        'else current_setting(''lock_timeout'') end, sqlerrm '
        'using errcode = ''lock_not_available'', hint = ''Another session holds the '
        'table, typically a transaction left open (pg_stat_activity, state "idle in '
        'transaction"). End it and try again; the wait is maintenance.lock_timeout_seconds.'';'
        || E'\nend;';
begin
    if array_length(string_to_array(v_def, v_old_lock), 1) <> 2
        or array_length(string_to_array(v_def, v_old_end), 1) <> 2 then
        raise exception '063: create_monthly_partitions() is not as 004 wrote it; its lock '
            'cannot be replaced safely';
    end if;
    execute replace(replace(v_def, v_old_lock, v_new_lock), v_old_end, v_new_end);
end
$$;

-- The ledger bypass token: one row per retention transaction, while apply_retention() runs.
create table retention_bypass (
    backend_pid integer not null,
    transaction_id xid8 not null,
    primary key (backend_pid, transaction_id)
);

comment on table retention_bypass is
'Rows written by apply_retention() for its own transaction and deleted before it returns: the '
'late-data triggers skip marking dirty hours only while such a row exists (and the session '
'setting mcp_analytics.retention is on). Writable by the owner and mcp_admin only.';

revoke all on retention_bypass from public;

create or replace function mark_mart_buckets_dirty()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    -- Retention deletes raw rows the marts must outlive: those deletes change no bucket. Only
    -- apply_retention() can say so: the setting needs its token for this transaction.
    if current_setting('mcp_analytics.retention', true) = 'on'
        and exists (
            select 1
            from public.retention_bypass as b
            where b.backend_pid = pg_backend_pid() and b.transaction_id = pg_current_xact_id()
        ) then
        return null;
    end if;
    if tg_op = 'INSERT' then
        insert into public.mart_dirty_buckets (mart, bucket)
        select s.mart, b.bucket
        from (
            select distinct date_trunc('hour', r."timestamp", 'UTC') as bucket
            from new_rows as r
            where r."timestamp" is not null
        ) as b
        cross join public.mart_sources as s
        where s.source_table = tg_table_name;
    elsif tg_op = 'UPDATE' then
        insert into public.mart_dirty_buckets (mart, bucket)
        select s.mart, b.bucket
        from (
            select date_trunc('hour', o."timestamp", 'UTC') as bucket
            from old_rows as o
            where o."timestamp" is not null
            union
            select date_trunc('hour', n."timestamp", 'UTC') as bucket
            from new_rows as n
            where n."timestamp" is not null
        ) as b
        cross join public.mart_sources as s
        where s.source_table = tg_table_name;
    elsif tg_op = 'DELETE' then
        insert into public.mart_dirty_buckets (mart, bucket)
        select s.mart, b.bucket
        from (
            select distinct date_trunc('hour', o."timestamp", 'UTC') as bucket
            from old_rows as o
            where o."timestamp" is not null
        ) as b
        cross join public.mart_sources as s
        where s.source_table = tg_table_name;
    end if;
    return null;
end;
$$;

-- apply_retention(): 040's body (apply_retention_unflagged() since 041) with the retention flag
-- for the call (041), the token, the bounded waits and a clear message.
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
declare
    v_flag_before text := current_setting('mcp_analytics.retention', true);
    v_timeout_before text := current_setting('lock_timeout');
    v_wait interval;
begin
    -- The warehouse lock first, with its own wait (re-entrant: the body's call returns at once).
    if not p_dry_run then
        perform public.warehouse_lock(false);
    end if;
    -- Then bounded waits for the locks the run takes (detaching a partition waits for every
    -- transaction that holds its table), unless the caller chose its own lock_timeout.
    if v_timeout_before in ('0', '0ms') then
        v_wait := public.maintenance_seconds('maintenance.lock_timeout_seconds', 300);
        perform set_config(
            'lock_timeout', (extract(epoch from v_wait) * 1000)::bigint::text, true
        );
    else
        v_wait := v_timeout_before::interval;
    end if;
    -- Late-data triggers skip rows removed by retention (they must not mark summaries dirty):
    -- the setting, and the token only this function writes.
    perform set_config('mcp_analytics.retention', 'on', true);
    insert into public.retention_bypass (backend_pid, transaction_id)
    values (pg_backend_pid(), pg_current_xact_id())
    on conflict do nothing;
    begin
        return query
        select
            r.table_name,
            r.action,
            r.partitions_detached,
            r.rows_archived,
            r.rows_deleted,
            r.cutoff,
            r.duration_ms,
            r.dry_run,
            r.detail
        from public.apply_retention_unflagged(p_dry_run, p_table) as r;
    exception when lock_not_available then
        if sqlerrm like 'warehouse lock:%' then
            raise;
        end if;
        raise exception 'retention%: gave up after % waiting for a table lock (%); nothing was '
            'changed',
            coalesce(' of ' || p_table, ''), v_wait, sqlerrm
            using
                errcode = 'lock_not_available',
                hint = 'Another session holds a lock on a table retention changes, typically a '
                'transaction left open (see pg_stat_activity, state "idle in transaction"). End '
                'it and run retention again; the wait is maintenance.lock_timeout_seconds.';
    end;
    -- A plpgsql set-returning function runs to completion before its caller sees a row.
    delete from public.retention_bypass as b
    where b.backend_pid = pg_backend_pid() and b.transaction_id = pg_current_xact_id();
    perform set_config('mcp_analytics.retention', coalesce(v_flag_before, ''), true);
    perform set_config('lock_timeout', v_timeout_before, true);
end;
$$;

comment on function apply_retention(boolean, text) is
'Applies data_retention_policies (all, or only p_table): detaches whole partitions past the '
'cutoff, archives (verified) or deletes old rows in batches, records last_cleanup*. '
'p_dry_run reports what would go and changes nothing. One row per policy.';

-- As in 040: only administrators run retention.
revoke execute on function apply_retention(boolean, text) from public;
grant execute on function apply_retention(boolean, text) to mcp_admin;

-- The archive export's lock (warehouse/archive.py): one table's export at a time, where an
-- advisory key any role could hold made every export refuse. Only its owner and mcp_admin may
-- lock it. No rows: only its lock matters. (Schema archive holds archived tables only.)
create table archive_export_lock (
    held boolean primary key default true check (held)
);

comment on table archive_export_lock is
'Locked EXCLUSIVE by the archive export for each table it exports (never two exports at once).';

revoke all on archive_export_lock from public;

-- apply_retention() sets the retention flag in its body, not with a SET clause.
--
-- A function may carry a SET clause on a custom (placeholder) parameter only if its creator is a
-- superuser or holds SET on that parameter (PostgreSQL 15+: GRANT SET ON PARAMETER), which the
-- owner on managed PostgreSQL usually cannot get; re-creating such a function (a dump restored
-- by a non-superuser) would need it again too.
--
-- 040's function keeps its body under a new name; apply_retention() becomes a wrapper that sets
-- the flag with set_config(..., true), calls it and puts the caller's value back: on during
-- the call, as before after it, rolled back with the (sub)transaction on error. Callers
-- (cleanup_old_data(), the dbt macro, the CLI) resolve the name at call time.
--
-- The first revision of 040 declared `set mcp_analytics.retention = 'on'`; databases
-- bootstrapped with it lose the clause here (the reset needs the grant that creating it
-- needed, which such an owner had). Resetting a clause that is not there would need the grant
-- as well, hence the check.

do $$
begin
    if exists (
        select 1
        from pg_proc
        where
            oid = 'apply_retention(boolean, text)'::regprocedure
            and proconfig is not null
    ) then
        alter function apply_retention(boolean, text) reset mcp_analytics.retention;
    end if;
end
$$;

alter function apply_retention(boolean, text) rename to apply_retention_unflagged;

comment on function apply_retention_unflagged(boolean, text) is
'The body of apply_retention() (040), without the retention flag: call apply_retention().';

create function apply_retention(
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
begin
    -- Late-data triggers skip rows removed by retention (they must not mark summaries dirty).
    perform set_config('mcp_analytics.retention', 'on', true);
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
    from apply_retention_unflagged(p_dry_run, p_table) as r;
    -- A plpgsql set-returning function runs to completion before its caller sees a row.
    perform set_config('mcp_analytics.retention', coalesce(v_flag_before, ''), true);
end;
$$;

comment on function apply_retention(boolean, text) is
'Applies data_retention_policies (all, or only p_table): detaches whole partitions past the '
'cutoff, archives (verified) or deletes old rows in batches, records last_cleanup*. '
'p_dry_run reports what would go and changes nothing. One row per policy.';

-- As in 040: only administrators run retention.
revoke execute on function
    apply_retention(boolean, text), apply_retention_unflagged(boolean, text)
from public;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'mcp_admin') then
        grant execute on function
            apply_retention(boolean, text), apply_retention_unflagged(boolean, text)
        to mcp_admin;
    end if;
end
$$;

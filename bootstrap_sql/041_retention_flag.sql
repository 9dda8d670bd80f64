-- apply_retention() sets the retention flag in its body, not with a SET clause.
--
-- A function may carry a SET clause on a custom (placeholder) parameter only if its creator is a
-- superuser or holds SET on that parameter (PostgreSQL 15+: GRANT SET ON PARAMETER), which the
-- owner on managed PostgreSQL usually cannot get; re-creating such a function (a dump restored
-- by a non-superuser) would need it again too.
--
-- 040's function keeps its body under a new name; apply_retention() becomes a wrapper (063)
-- that sets the flag with set_config(..., true), calls it and puts the caller's value back: on
-- during the call, as before after it, rolled back with the (sub)transaction on error. Callers
-- (cleanup_old_data(), the dbt macro, the CLI) resolve the name at call time; nothing calls it
-- while the files between apply. Before the first release this file defined a first wrapper,
-- which 063 replaced; a database that ran it ends in the same state.
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

-- As in 040: only administrators run retention.
revoke execute on function apply_retention_unflagged(boolean, text) from public;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'mcp_admin') then
        grant execute on function apply_retention_unflagged(boolean, text) to mcp_admin;
    end if;
end
$$;

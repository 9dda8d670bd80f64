-- Marts register their own ledger sources. Each incremental dbt mart declares the tables it
-- follows (`meta.ledger_sources` in its config); dbt's on-run-start hook (macro
-- mart_register_sources) calls mart_register_sources() for every such mart, so a new mart needs
-- no bootstrap file. The rows 010 inserted for the five shipped marts are exactly what those
-- marts declare: on a database bootstrapped before this file, registration changes nothing.

-- The lock that two builds of one mart take in turn (the marts' pre-hook), named once here.
create or replace function mart_lock_key(p_mart text, out classid integer, out objid integer)
language sql
immutable
as $$
    select hashtext('mcp_analytics.mart'), hashtext(p_mart)
$$;

comment on function mart_lock_key(text) is
'Advisory lock key (classid, objid) that a build of the dbt mart p_mart holds for its transaction.';

-- SECURITY DEFINER: it locks raw tables and writes mart_sources as their owner; only mcp_admin
-- (the role dbt runs as, docs/security.md) may call it. Names are schema-qualified and pg_temp is
-- searched last, so a caller's temp table cannot stand in for the registry.
create or replace function mart_register_sources(p_mart text, p_sources text[])
returns integer
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_source text;
    v_new text[];
    v_added integer;
begin
    if p_mart is null or p_mart !~ '^[a-z_][a-z0-9_]{0,62}$' then
        raise exception 'mart_register_sources: the mart must be a plain lowercase identifier, got %',
            coalesce(quote_literal(p_mart), 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_sources is null or cardinality(p_sources) = 0 then
        raise exception 'mart_register_sources: % declares no ledger source', p_mart
            using errcode = 'invalid_parameter_value',
            hint = 'list the tables it follows in meta.ledger_sources of its dbt config';
    end if;
    foreach v_source in array p_sources loop
        if v_source is null or v_source !~ '^[a-z_][a-z0-9_]{0,62}$' or v_source = p_mart then
            raise exception 'mart_register_sources: % cannot follow %', p_mart,
                coalesce(quote_literal(v_source), 'null')
                using errcode = 'invalid_parameter_value';
        end if;
        -- a raw table whose changes the triggers of 010 record, or a mart registered before
        if not exists (
            select 1
            from pg_catalog.pg_trigger as t
            where
                t.tgrelid = to_regclass(format('public.%I', v_source))
                and t.tgfoid = 'public.mark_mart_buckets_dirty()'::regprocedure
        ) and not exists (
            select 1 from public.mart_sources as s where s.mart = v_source
        ) then
            raise exception 'mart_register_sources: % follows %, which is neither a raw table '
                'with the late-data triggers nor a registered mart', p_mart, v_source
                using errcode = 'invalid_parameter_value',
                hint = 'a raw table gets its triggers from a bootstrap file (as in 010); '
                'a mart registers itself when dbt runs, before the marts built on it';
        end if;
    end loop;

    select coalesce(array_agg(distinct wanted.source_table), '{}') into v_new
    from unnest(p_sources) as wanted (source_table)
    where not exists (
        select 1
        from public.mart_sources as s
        where s.source_table = wanted.source_table and s.mart = p_mart
    );

    -- A writer whose trigger ran before this registration commits marks nothing for the new
    -- mart, yet may commit after the mart's first build read the table. So wait, once, for the
    -- writers in flight: SHARE conflicts with their ROW EXCLUSIVE on a raw table; a mart's
    -- build holds its mart_lock_key. A registration that adds nothing locks nothing.
    foreach v_source in array v_new loop
        if exists (select 1 from public.mart_sources as s where s.mart = v_source) then
            perform pg_advisory_xact_lock(k.classid, k.objid)
            from public.mart_lock_key(v_source) as k;
        else
            execute format('lock table public.%I in share mode', v_source);
        end if;
    end loop;

    insert into public.mart_sources (source_table, mart)
    select new_source.source_table, p_mart
    from unnest(v_new) as new_source (source_table)
    on conflict (source_table, mart) do nothing;
    get diagnostics v_added = row_count;

    -- the declaration is the whole truth: a source the mart no longer lists stops marking it
    delete from public.mart_sources as s
    where s.mart = p_mart and s.source_table <> all (p_sources);

    return v_added;
end;
$$;

revoke execute on function mart_register_sources(text, text[]) from public;
grant execute on function mart_register_sources(text, text[]) to mcp_admin;

comment on function mart_register_sources(text, text[]) is
'Makes mart_sources list exactly p_sources (raw tables with the late-data triggers, or '
'registered marts) as the ledger sources of the dbt mart p_mart; called by dbt''s on-run-start '
'hook. Idempotent; returns the number of sources added.';

-- When each dbt mart last rebuilt any of its buckets: one row per mart, kept by the ledger's
-- record of a run's rebuilt buckets (mart_last_rebuilt, 075). That record is replaced on every
-- run, and a run with nothing to rebuild leaves it empty, so it cannot say when the mart was
-- last refreshed; max(refreshed_at) can, but only by reading the whole mart, which grows with
-- the history kept (the dashboard's Pipeline page did that on its first view after a start).

create table mart_refreshes (
    mart text primary key,
    -- the rebuilt_at of its newest rebuilt buckets: the model's transaction time, so equal to
    -- the refreshed_at of the rows that run wrote
    refreshed_at timestamp with time zone not null,
    -- dbt's invocation_id of that run
    run_id text not null
);

comment on table mart_refreshes is
'When each dbt mart last rebuilt any bucket (kept from mart_last_rebuilt by a trigger): its '
'last refresh without reading the mart.';

create function mart_record_refreshes() returns trigger
language plpgsql
as $$
begin
    insert into mart_refreshes as r (mart, refreshed_at, run_id)
    select distinct on (a.mart) a.mart, a.rebuilt_at, a.run_id
    from rebuilt as a
    order by a.mart, a.rebuilt_at desc
    on conflict (mart) do update
    set refreshed_at = excluded.refreshed_at, run_id = excluded.run_id
    where r.refreshed_at <= excluded.refreshed_at;
    return null;
end;
$$;

create trigger mart_last_rebuilt_refreshes
after insert on mart_last_rebuilt
referencing new table as rebuilt
for each statement execute function mart_record_refreshes();

-- A warehouse bootstrapped before this file: the marts whose last run rebuilt something.
insert into mart_refreshes (mart, refreshed_at, run_id)
select distinct on (l.mart) l.mart, l.rebuilt_at, l.run_id
from mart_last_rebuilt as l
order by l.mart, l.rebuilt_at desc;

-- Like mart_last_rebuilt: dbt (mcp_admin) writes it, through the trigger; no other role reads it.
revoke all on mart_refreshes from public;
grant select, insert, update on mart_refreshes to mcp_admin;
revoke all on function mart_record_refreshes() from public;

-- Late data for the dbt marts: a ledger of the hour buckets each mart must recompute.
--
-- Statement-level AFTER triggers (with transition tables, so one insert per statement, not per
-- row) on the four raw telemetry tables append (mart, hour) rows for every hour touched by an
-- INSERT, UPDATE (old and new rows) or DELETE. A mart's incremental run snapshots its entries,
-- rebuilds exactly those buckets and deletes only the entries it saw, by id. An entry committed
-- while the run is in flight is not in the snapshot and stays for the next run, so commit order
-- cannot lose a change (a max(id) or max(timestamp) watermark can: ids and timestamps are taken
-- before commit). Rows of any age are re-aggregated; see docs/dbt.md.

-- Which mart consumes which source (a raw table, or an upstream mart for marts built on marts).
-- A new mart that follows the ledger registers here in a later bootstrap file.
create table mart_sources (
    source_table text not null,
    mart text not null,
    grain text not null default 'hour' check (grain in ('hour', 'day')),
    primary key (source_table, mart)
);

comment on table mart_sources is
'dbt marts fed by the late-data ledger: a change to source_table marks buckets of mart dirty.';

insert into mart_sources (source_table, mart) values
('tool_usage_logs', 'hourly_tool_usage_summary'),
('mcp_request_logs', 'hourly_request_summary'),
('error_logs', 'daily_error_summary'),
('performance_metrics', 'performance_metrics_summary'),
-- built from the hourly mart: its post-hook marks the hours it rebuilt
('hourly_tool_usage_summary', 'daily_tool_usage_summary');

create table mart_dirty_buckets (
    id bigint generated always as identity primary key,
    mart text not null,
    -- start of the UTC hour whose rows changed
    bucket timestamp with time zone not null,
    queued_at timestamp with time zone not null default now()
);

create index idx_mart_dirty_buckets_mart on mart_dirty_buckets (mart, id);

comment on table mart_dirty_buckets is
'Late-data ledger: hour buckets whose raw rows changed since the mart last consumed them.';

-- SECURITY DEFINER: a least-privilege ingest role writes raw rows without any right on the
-- ledger. Names are schema-qualified and pg_temp is searched last, so a caller's temp table
-- cannot stand in for the ledger.
create or replace function mark_mart_buckets_dirty()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    -- Retention deletes raw rows the marts must outlive: those deletes change no bucket.
    if current_setting('mcp_analytics.retention', true) = 'on' then
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

revoke execute on function mark_mart_buckets_dirty() from public;

-- A trigger with transition tables can have only one event, hence three per table. On a
-- partitioned table the statement trigger on the root sees the rows routed to every partition.
create trigger mart_dirty_on_insert after insert on tool_usage_logs
referencing new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_update after update on tool_usage_logs
referencing old table as old_rows new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_delete after delete on tool_usage_logs
referencing old table as old_rows
for each statement execute function mark_mart_buckets_dirty();

create trigger mart_dirty_on_insert after insert on mcp_request_logs
referencing new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_update after update on mcp_request_logs
referencing old table as old_rows new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_delete after delete on mcp_request_logs
referencing old table as old_rows
for each statement execute function mark_mart_buckets_dirty();

create trigger mart_dirty_on_insert after insert on error_logs
referencing new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_update after update on error_logs
referencing old table as old_rows new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_delete after delete on error_logs
referencing old table as old_rows
for each statement execute function mark_mart_buckets_dirty();

create trigger mart_dirty_on_insert after insert on performance_metrics
referencing new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_update after update on performance_metrics
referencing old table as old_rows new table as new_rows
for each statement execute function mark_mart_buckets_dirty();
create trigger mart_dirty_on_delete after delete on performance_metrics
referencing old table as old_rows
for each statement execute function mark_mart_buckets_dirty();

-- Oldest bucket a mart may rebuild from `source_table`: raw rows older than the retention
-- policy's horizon may already be gone, so their buckets keep the values the mart has.
create or replace function mart_raw_horizon(source_table text)
returns timestamp with time zone
language sql
stable
set search_path = public, pg_temp
as $$
    select coalesce(
        (
            select max(now() - make_interval(days => p.retention_days))
            from public.data_retention_policies as p
            where
                p.table_name in (source_table, 'public.' || source_table)
                and p.cleanup_enabled
        ),
        '-infinity'::timestamptz
    );
$$;

-- Incremental marts find their buckets with a range scan on the event time.
create index idx_tool_usage_timestamp on tool_usage_logs ("timestamp");
create index idx_mcp_request_timestamp on mcp_request_logs ("timestamp");
create index idx_error_logs_timestamp on error_logs ("timestamp");
create index idx_performance_metrics_timestamp on performance_metrics ("timestamp");

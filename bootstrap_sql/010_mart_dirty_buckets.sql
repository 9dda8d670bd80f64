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

-- The late-data trigger function: 063 defines its body (an insert, update or delete marks the
-- hours of the rows it touched dirty for every mart reading the table, unless retention is
-- deleting; SECURITY DEFINER, so a least-privilege ingest role writes raw rows without any
-- right on the ledger). Before the first release this file defined a first body, which 063
-- replaced; a database that ran it ends in the same state. Here it only has to exist for the
-- triggers below, and refuses a write should a bootstrap stop before 063.
create or replace function mark_mart_buckets_dirty()
returns trigger
language plpgsql
as $$
begin
    raise exception 'mark_mart_buckets_dirty: the bootstrap stopped before 063; run it again'
        using errcode = 'object_not_in_prerequisite_state';
end;
$$;

revoke execute on function mark_mart_buckets_dirty() from public;

-- A trigger with transition tables can have only one event, hence three per table. On a
-- partitioned table the statement trigger on the root sees the rows routed to every partition.
do $$
declare
    t record;
begin
    for t in
        select r.raw_table, e.event, e.transition_tables
        from unnest(
            array['tool_usage_logs', 'mcp_request_logs', 'error_logs', 'performance_metrics']
        ) as r (raw_table)
        cross join (
            values
            ('insert', 'new table as new_rows'),
            ('update', 'old table as old_rows new table as new_rows'),
            ('delete', 'old table as old_rows')
        ) as e (event, transition_tables)
    loop
        execute format(
            'create trigger %I after %s on %I referencing %s'
            ' for each statement execute function mark_mart_buckets_dirty()',
            'mart_dirty_on_' || t.event, t.event, t.raw_table, t.transition_tables
        );
    end loop;
end;
$$;

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

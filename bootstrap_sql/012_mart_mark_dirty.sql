-- Bulk loads that bypass the late-data triggers (a loaded table attached as a partition,
-- a TRUNCATE, a restore) tell the marts which hours to recompute with mart_mark_dirty:
--   select mart_mark_dirty('tool_usage_logs', '2026-10-01', '2026-11-01');
-- marks every hour that intersects [range_start, range_end) for every mart reading the table.
create or replace function mart_mark_dirty(
    source_table text,
    range_start timestamp with time zone,
    range_end timestamp with time zone
)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    marked bigint;
begin
    if range_start is null or range_end is null or range_end <= range_start then
        raise exception 'mart_mark_dirty: need range_start < range_end, got [%, %)',
            range_start, range_end using errcode = 'invalid_parameter_value';
    end if;
    if range_end - range_start > interval '3700 days' then
        raise exception 'mart_mark_dirty: range of % is longer than ten years',
            range_end - range_start using errcode = 'invalid_parameter_value';
    end if;
    if not exists (
        select 1 from public.mart_sources as s where s.source_table = mart_mark_dirty.source_table
    ) then
        raise exception 'mart_mark_dirty: no mart reads %', source_table
            using errcode = 'invalid_parameter_value';
    end if;
    insert into public.mart_dirty_buckets (mart, bucket)
    select s.mart, hours.bucket
    from generate_series(
        date_trunc('hour', range_start, 'UTC'),
        range_end - interval '1 microsecond',
        interval '1 hour'
    ) as hours (bucket)
    cross join public.mart_sources as s
    where s.source_table = mart_mark_dirty.source_table;
    get diagnostics marked = row_count;
    return marked;
end;
$$;

revoke execute on function mart_mark_dirty(text, timestamptz, timestamptz) from public;

comment on function mart_mark_dirty(text, timestamptz, timestamptz) is
'Marks every hour of [range_start, range_end) of source_table dirty for the marts reading it '
'(for loads that fire no trigger, e.g. ATTACH PARTITION). Returns the number of entries.';

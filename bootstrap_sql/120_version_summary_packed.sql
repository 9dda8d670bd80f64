-- The release summary's packed histogram on warehouses built before it.
--
-- daily_tool_version_summary (100) now produces duration_histogram_packed (105's packed form,
-- which tool_regressions sums). dbt's on_schema_change is `fail`, so a mart built before the
-- column existed (before 105, or after 105 by a project without the column) stopped the next
-- build with 'The source and target schemas on this incremental model are out of sync'. The
-- existing mart gets the column and every day it holds is rebuilt on the next run (days past
-- raw retention are consumed and keep null in it, as 105 does for the tool summaries).
do $$
begin
    if to_regclass('analytics.daily_tool_version_summary') is not null then
        alter table analytics.daily_tool_version_summary
        add column if not exists duration_histogram_packed numeric;
        insert into public.mart_dirty_buckets (mart, bucket)
        select distinct 'daily_tool_version_summary', s.day
        from analytics.daily_tool_version_summary as s
        where s.duration_histogram_packed is null;
    end if;
end;
$$;

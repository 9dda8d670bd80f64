-- The seed's materialized views, kept for dashboards that query them by name. They cover only
-- the seed's windows (30/90/7 days); the incremental dbt marts in schema `analytics` keep the
-- whole history and are what analysts should use. Created empty: refresh_analytics_views()
-- fills them.
--
-- Each gets a unique index on its grouping columns, without which the seed's
-- REFRESH ... CONCURRENTLY fails. Grouping columns that may be null use NULLS NOT DISTINCT
-- (PostgreSQL 15+).

create materialized view hourly_tool_usage_summary as
select
    date_trunc('hour', "timestamp") as hour,
    bcp_name,
    tool_name,
    operation,
    count(*) as total_calls,
    count(*) filter (where success = true) as successful_calls,
    count(*) filter (where success = false) as failed_calls,
    avg(duration_ms)::integer as avg_duration_ms,
    percentile_cont(0.5) within group (order by duration_ms)::integer as median_duration_ms,
    percentile_cont(0.95) within group (order by duration_ms)::integer as p95_duration_ms,
    max(duration_ms) as max_duration_ms,
    min(duration_ms) as min_duration_ms,
    avg(response_size_bytes)::integer as avg_response_size,
    count(distinct user_id) as unique_users,
    count(distinct session_id) as unique_sessions
from tool_usage_logs
where "timestamp" >= current_date - interval '30 days'
group by hour, bcp_name, tool_name, operation
with no data;

create unique index uq_hourly_tool_usage_summary on hourly_tool_usage_summary (
    hour, bcp_name, tool_name, operation
) nulls not distinct;
create index idx_hourly_tool_usage_hour on hourly_tool_usage_summary (hour desc);
create index idx_hourly_tool_usage_bcp on hourly_tool_usage_summary (bcp_name, hour desc);
create index idx_hourly_tool_usage_tool on hourly_tool_usage_summary (tool_name, hour desc);

create materialized view daily_error_summary as
select
    date_trunc('day', "timestamp") as day,
    level,
    category,
    count(*) as error_count,
    count(distinct user_id) as affected_users,
    count(distinct session_id) as affected_sessions,
    count(*) filter (where resolved = true) as resolved_count,
    count(*) filter (where resolved = false) as unresolved_count,
    avg(severity)::numeric(3, 2) as avg_severity,
    string_agg(distinct error_code, ', ') as error_codes,
    min("timestamp") as first_error,
    max("timestamp") as last_error
from error_logs
where "timestamp" >= current_date - interval '90 days'
group by day, level, category
with no data;

create unique index uq_daily_error_summary on daily_error_summary (
    day, level, category
) nulls not distinct;
create index idx_daily_error_summary_day on daily_error_summary (day desc);
create index idx_daily_error_summary_level on daily_error_summary (level, day desc);

create materialized view performance_metrics_summary as
select
    metric_name,
    aggregation_period,
    date_trunc(
        case
            when aggregation_period = '1m' then 'minute'
            when aggregation_period = '1h' then 'hour'
            when aggregation_period = '1d' then 'day'
            else 'hour'
        end,
        "timestamp"
    ) as time_bucket,
    avg(metric_value) as avg_value,
    min(metric_value) as min_value,
    max(metric_value) as max_value,
    percentile_cont(0.95) within group (order by metric_value) as p95_value,
    count(*) as sample_count,
    stddev(metric_value) as stddev_value
from performance_metrics
where "timestamp" >= current_date - interval '7 days'
group by metric_name, aggregation_period, time_bucket
with no data;

create unique index uq_performance_metrics_summary on performance_metrics_summary (
    metric_name, aggregation_period, time_bucket
) nulls not distinct;
create index idx_perf_metrics_summary_name_time on performance_metrics_summary (
    metric_name, time_bucket desc
);

-- Seed: "Materialized View Refresh", fixed: CONCURRENTLY needs a populated view with a unique
-- index, so a never-populated view gets a plain refresh first; names are returned as text.
create or replace function refresh_analytics_views()
returns table (view_name text, refresh_time_ms integer)
language plpgsql
as $$
declare
    view_record record;
    start_time timestamptz;
begin
    for view_record in
        select m.schemaname, m.matviewname, m.ispopulated
        from pg_matviews as m
        where m.schemaname = 'public' and m.matviewname like '%\_summary'
        order by m.matviewname
    loop
        start_time := clock_timestamp();
        if view_record.ispopulated then
            execute format(
                'refresh materialized view concurrently %I.%I',
                view_record.schemaname, view_record.matviewname
            );
        else
            execute format(
                'refresh materialized view %I.%I', view_record.schemaname, view_record.matviewname
            );
        end if;
        view_name := view_record.matviewname::text;
        refresh_time_ms := (extract(epoch from clock_timestamp() - start_time) * 1000)::integer;
        return next;
    end loop;
end;
$$;

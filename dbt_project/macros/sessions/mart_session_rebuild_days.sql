{#-
    Pre-hook step of analytics.mcp_sessions, after mart_claim_dirty(grain='hour'): turns the
    dirty hours into the UTC days whose sessions are recomputed (a session belongs to the day
    it starts), in pg_temp.mart_rebuild. A changed row changes more than its own day: a late
    row can extend a session that started the day before, or bridge two idle-gap sessions into
    one (the later one's day loses it); a deleted row can split one, or move the start of its
    transport session. So the days are those of
      1. the dirty hours widened by the idle gap on both sides (where a session may now start,
         or stop starting, because of a row in a dirty hour),
      2. the stored sessions a dirty hour could have touched: spans within the gap of it, and
         transport sessions whose id comes back in it (where they were counted),
      3. where those transport sessions start now (their first remaining operation).
    Days older than the raw retention horizon are never rebuilt. First build: nothing to do.
-#}
{% macro mart_session_rebuild_days(idle_gap_minutes) %}
    {%- if idle_gap_minutes is not number or idle_gap_minutes is boolean
          or idle_gap_minutes != idle_gap_minutes | int
          or idle_gap_minutes < 1 or idle_gap_minutes > 1440 -%}
        {{ exceptions.raise_compiler_error(
            'mart_session_rebuild_days: idle_gap_minutes must be a whole number of minutes '
            ~ 'from 1 to 1440, got ' ~ idle_gap_minutes) }}
    {%- endif -%}
    {%- if is_incremental() -%}
        {%- set raw_schema = var('raw_schema', 'public') -%}
        {%- set gap = "interval '" ~ (idle_gap_minutes | int) ~ " minutes'" -%}
        -- the hours the ledger marked, kept before mart_rebuild turns into days
        create temporary table session_dirty_hours on commit drop as
        select distinct rebuilt.bucket as hour
        from pg_temp.mart_rebuild as rebuilt;
        analyze pg_temp.session_dirty_hours;
        create temporary table session_rebuild_days (day timestamptz primary key) on commit drop;
        -- 1. every day within the gap of a dirty hour
        insert into pg_temp.session_rebuild_days (day)
        select distinct covered.day
        from pg_temp.session_dirty_hours as dirty
        cross join lateral generate_series(
            date_trunc('day', dirty.hour - {{ gap }}, 'UTC'),
            date_trunc(
                'day', dirty.hour + interval '1 hour' + {{ gap }} - interval '1 microsecond', 'UTC'
            ),
            interval '24 hours'
        ) as covered (day);
        -- 2. stored sessions a dirty hour could have touched
        create temporary table session_touched on commit drop as
        with
        dirty_range as (
            select
                min(dirty.hour) - {{ gap }} as first_at,
                max(dirty.hour) + interval '1 hour' + {{ gap }} as last_at
            from pg_temp.session_dirty_hours as dirty
        ),
        dirty_keys as (
            select distinct
                calls.bcp_name,
                nullif(calls.session_id, '') as session_id
            from {{ raw_schema }}.tool_usage_logs as calls
            where
                calls."timestamp" >= (select dirty_range.first_at from dirty_range)
                and calls."timestamp" < (select dirty_range.last_at from dirty_range)
                and date_trunc('hour', calls."timestamp", 'UTC') in (
                    select dirty.hour from pg_temp.session_dirty_hours as dirty
                )
                and nullif(calls.session_id, '') is not null
        )
        select stored.day, stored.bcp_name, stored.session_definition, stored.session_id,
            stored.started_at
        from {{ this }} as stored
        where
            stored.last_operation_at >= (select dirty_range.first_at from dirty_range)
            and stored.started_at < (select dirty_range.last_at from dirty_range)
            and exists (
                select 1
                from pg_temp.session_dirty_hours as dirty
                where
                    stored.started_at < dirty.hour + interval '1 hour' + {{ gap }}
                    and stored.last_operation_at >= dirty.hour - {{ gap }}
            )
        union
        select stored.day, stored.bcp_name, stored.session_definition, stored.session_id,
            stored.started_at
        from {{ this }} as stored
        inner join dirty_keys
            on stored.bcp_name = dirty_keys.bcp_name and stored.session_id = dirty_keys.session_id
        where stored.session_definition = 'transport_id:v1';
        insert into pg_temp.session_rebuild_days (day)
        select distinct touched.day
        from pg_temp.session_touched as touched
        on conflict (day) do nothing;
        -- 3. where the touched transport sessions start now
        insert into pg_temp.session_rebuild_days (day)
        select distinct date_trunc('day', min(calls."timestamp"), 'UTC')
        from {{ raw_schema }}.tool_usage_logs as calls
        where
            calls."timestamp" >= least(
                (
                    select min(touched.started_at) from pg_temp.session_touched as touched
                    where touched.session_definition = 'transport_id:v1'
                ),
                (select min(dirty.hour) from pg_temp.session_dirty_hours as dirty)
            )
            and (calls.bcp_name, nullif(calls.session_id, '')) in (
                select touched.bcp_name, touched.session_id
                from pg_temp.session_touched as touched
                where touched.session_definition = 'transport_id:v1'
            )
        group by calls.bcp_name, nullif(calls.session_id, '')
        on conflict (day) do nothing;
        -- the days replace the hours
        delete from pg_temp.mart_rebuild;
        insert into pg_temp.mart_rebuild (bucket)
        select days.day
        from pg_temp.session_rebuild_days as days
        where days.day >= {{ raw_schema }}.mart_raw_horizon('tool_usage_logs');
        {{ mart_rebuild_analyze() }}
    {%- else -%}
        -- first build: every session is computed
        select 1;
    {%- endif -%}
{% endmacro %}

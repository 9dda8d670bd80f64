{#-
    Pre-hook step of analytics.mcp_sessions, after mart_claim_dirty(grain='hour'): says what an
    incremental run recomputes, from the dirty hours (marked by int_session_hours' post-hook):
      - pg_temp.session_transport_keys: the transport sessions with a row in a dirty hour of
        int_session_hours (a row of 0 operations included: its calls there were deleted); each
        is merged again from all its hourly rows, wherever it starts and ends;
      - pg_temp.session_idle_days: the UTC days whose idle-gap sessions are recomputed from the
        raw calls (a session belongs to the day it starts): the days within the idle gap of a
        dirty hour (a late row can bridge two sessions or start one, a deleted one split one)
        and the days of the stored idle-gap sessions spanning a dirty hour widened by the gap;
        none older than the raw retention horizon. Their first, less the gap, is published as
        mcp_analytics.session_idle_first (where the model reads raw calls from);
      - pg_temp.mart_rebuild: the idle-gap days and the days the transport sessions started on
        before and start on now (their daily rows, int_session_days), what mart_release_dirty
        passes to daily_session_summary.
    First build: mcp_analytics.session_idle_first is -infinity, nothing else to do.
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
        {%- set partials = ref('int_session_hours') -%}
        -- the hours the ledger marked, kept before mart_rebuild turns into days
        create temporary table session_dirty_hours on commit drop as
        select distinct rebuilt.bucket as hour
        from pg_temp.mart_rebuild as rebuilt;
        analyze pg_temp.session_dirty_hours;
        -- transport sessions with an hourly row in a dirty hour
        create temporary table session_transport_keys on commit drop as
        select distinct parts.bcp_name, parts.session_id
        from {{ partials }} as parts
        where parts.hour in (select dirty.hour from pg_temp.session_dirty_hours as dirty);
        analyze pg_temp.session_transport_keys;
        -- idle-gap days: 1. every day within the gap of a dirty hour
        create temporary table session_idle_days (day timestamptz primary key) on commit drop;
        insert into pg_temp.session_idle_days (day)
        select distinct covered.day
        from pg_temp.session_dirty_hours as dirty
        cross join lateral generate_series(
            date_trunc('day', dirty.hour - {{ gap }}, 'UTC'),
            date_trunc(
                'day', dirty.hour + interval '1 hour' + {{ gap }} - interval '1 microsecond', 'UTC'
            ),
            interval '24 hours'
        ) as covered (day);
        -- 2. the days of stored idle-gap sessions a dirty hour could have touched
        insert into pg_temp.session_idle_days (day)
        select distinct stored.day
        from {{ this }} as stored
        where
            stored.session_definition <> 'transport_id:v1'
            and stored.last_operation_at >= (
                select min(dirty.hour) - {{ gap }} from pg_temp.session_dirty_hours as dirty
            )
            and stored.started_at < (
                select max(dirty.hour) + interval '1 hour' + {{ gap }}
                from pg_temp.session_dirty_hours as dirty
            )
            and exists (
                select 1
                from pg_temp.session_dirty_hours as dirty
                where
                    stored.started_at < dirty.hour + interval '1 hour' + {{ gap }}
                    and stored.last_operation_at >= dirty.hour - {{ gap }}
            )
        on conflict (day) do nothing;
        delete from pg_temp.session_idle_days as idle
        where idle.day < {{ raw_schema }}.mart_raw_horizon('tool_usage_logs');
        analyze pg_temp.session_idle_days;
        select set_config(
            'mcp_analytics.session_idle_first',
            coalesce(
                to_char(
                    min(idle.day) at time zone 'UTC' - {{ gap }}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                ),
                'infinity'
            ),
            true
        ) as idle_first
        from pg_temp.session_idle_days as idle;
        -- the days replace the hours: idle-gap days, and where the transport sessions started
        -- (stored) and start now (their hourly rows)
        delete from pg_temp.mart_rebuild;
        insert into pg_temp.mart_rebuild (bucket)
        select idle.day
        from pg_temp.session_idle_days as idle
        union
        select stored.day
        from {{ this }} as stored
        inner join pg_temp.session_transport_keys as touched
            on stored.bcp_name = touched.bcp_name and stored.session_id = touched.session_id
        where stored.session_definition = 'transport_id:v1'
        union
        select date_trunc('day', min(parts.first_called_at), 'UTC')
        from {{ ref('int_session_days') }} as parts
        inner join pg_temp.session_transport_keys as touched
            on parts.bcp_name = touched.bcp_name and parts.session_id = touched.session_id
        where parts.operations > 0
        group by parts.bcp_name, parts.session_id;
        {{ mart_rebuild_analyze() }}
    {%- else -%}
        -- first build: every session is computed, the idle-gap ones from the first raw call
        select set_config('mcp_analytics.session_idle_first', '-infinity', true);
    {%- endif -%}
{% endmacro %}

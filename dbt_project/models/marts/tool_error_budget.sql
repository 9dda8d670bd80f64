{{
    config(
        meta={'ledger_sources': ['daily_tool_usage_summary']},
        indexes=[
            {'columns': ['day', 'bcp_name', 'tool_name'], 'unique': true},
        ],
        pre_hook=[
            "{{ mart_claim_dirty('tool_usage_logs', grain='day') }}",
            "{{ mart_rebuild_following_days(27) }}",
            "{{ mart_rebuild_where('day', 'stale.slo_target <> "
            ~ var('raw_schema', 'public')
            ~ ".mcp_slo_target(stale.bcp_name, stale.tool_name)', 'tool_usage_logs') }}",
        ],
        post_hook="{{ mart_release_dirty('day', retention_days=1825) }}",
        **mart_dirty_buckets_config('day')
    )
}}

-- Each tool's error budget per UTC day: the calls that failed by the server's fault (tool,
-- server and transport errors) against its SLO target (system_configuration
-- analytics.error_budget, mcp_slo_target()), over the 28 days ending that day. Caller errors
-- count neither as failures nor as calls. Built from the daily tool summary; a changed day is
-- rebuilt with the 27 days after it (the windows that hold it), and a changed target rebuilds
-- the days it applies to.

with

tool_days as (
    select
        daily.day,
        daily.bcp_name,
        daily.tool_name,
        sum(daily.total_calls)::bigint as total_calls,
        {{ mart_error_class_sums('daily') }},
        sum(daily.total_calls - daily.caller_error_calls)::bigint as eligible_calls,
        sum(
            daily.tool_error_calls + daily.server_error_calls + daily.transport_error_calls
        )::bigint as budget_error_calls
    from {{ ref('daily_tool_usage_summary') }} as daily
    {% if is_incremental() %}
        -- the rebuilt days and the 27 before the first of them (its window)
        where
            daily.day >= (select min(bounds.bucket) from pg_temp.mart_rebuild as bounds)
            - interval '648 hours'
            and daily.day <= (select max(bounds.bucket) from pg_temp.mart_rebuild as bounds)
    {% endif %}
    group by daily.day, daily.bcp_name, daily.tool_name
),

-- 28 UTC days ending on the row's day (672 hours: never a local day of 23 or 25 hours)
rolling_windows as (
    select
        day,
        bcp_name,
        tool_name,
        total_calls,
        caller_error_calls,
        tool_error_calls,
        server_error_calls,
        transport_error_calls,
        eligible_calls,
        budget_error_calls,
        sum(eligible_calls) over rolling_28_days as window_eligible_calls,
        sum(budget_error_calls) over rolling_28_days as window_error_calls
    from tool_days
    window rolling_28_days as (
        partition by bcp_name, tool_name
        order by day
        range between interval '648 hours' preceding and current row
    )
),

-- the tools with a rebuilt day, and the target of each, looked up once
rebuilt_tools as (
    select distinct
        bcp_name,
        tool_name
    from tool_days
    {% if is_incremental() %}
        where day in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)
    {% endif %}
),

targets as (
    select
        bcp_name,
        tool_name,
        {{ var('raw_schema', 'public') }}.mcp_slo_target(bcp_name, tool_name) as slo_target
    from rebuilt_tools
)

select
    rolling_windows.day,
    rolling_windows.bcp_name,
    rolling_windows.tool_name,
    rolling_windows.total_calls,
    rolling_windows.caller_error_calls,
    rolling_windows.tool_error_calls,
    rolling_windows.server_error_calls,
    rolling_windows.transport_error_calls,
    rolling_windows.eligible_calls,
    rolling_windows.budget_error_calls,
    round(
        rolling_windows.budget_error_calls::numeric / nullif(rolling_windows.eligible_calls, 0),
        6
    ) as error_rate,
    targets.slo_target,
    28 as window_days,
    rolling_windows.window_eligible_calls::bigint as window_eligible_calls,
    rolling_windows.window_error_calls::bigint as window_error_calls,
    round(
        rolling_windows.window_error_calls::numeric
        / nullif(rolling_windows.window_eligible_calls, 0),
        6
    ) as window_error_rate,
    round((1 - targets.slo_target) * rolling_windows.window_eligible_calls, 2)
        as allowed_error_calls,
    round(
        1 - rolling_windows.window_error_calls::numeric
        / nullif((1 - targets.slo_target) * rolling_windows.window_eligible_calls, 0),
        6
    ) as budget_remaining,
    rolling_windows.window_error_calls
    > (1 - targets.slo_target) * rolling_windows.window_eligible_calls as is_budget_exhausted,
    now() as refreshed_at
from rolling_windows
inner join targets
    on
        rolling_windows.bcp_name = targets.bcp_name
        and rolling_windows.tool_name = targets.tool_name
{% if is_incremental() %}
    where rolling_windows.day in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)
{% endif %}

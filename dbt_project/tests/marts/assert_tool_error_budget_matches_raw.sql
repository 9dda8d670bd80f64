{{ config(meta={'dagster': {'ref': {'name': 'tool_error_budget'}}}) }}

{%- set raw_schema = var('raw_schema', 'public') -%}
-- Days whose whole 28-day window is within raw retention: a recomputation from raw rows.
{%- set whole_window -%}
    day >= date_trunc('day', {{ raw_schema }}.mart_raw_horizon('tool_usage_logs'), 'UTC')
    + interval '672 hours'
{%- endset -%}

{%- set whole_history = mart_exactness_scope() == 'full' -%}
{%- set checked = mart_exactness_checked(
    ref('tool_error_budget'), 'day', 'tool_usage_logs',
    ['hourly_tool_usage_summary', 'daily_tool_usage_summary', 'tool_error_budget']) %}

{% set reference %}
    with

    calls as (
        -- a build's check reads the raw rows of the days it compares; the whole history's
        -- check reads every day of their windows (27 days before each)
        {{ mart_reference_tool_calls(
            ['"timestamp"', 'bcp_name', 'tool_name'],
            condition=mart_exactness_where('raw_calls."timestamp"', checked,
                lookback_hours=648 if whole_history else 0)) }}
    ),

    tool_days as (
        select
            date_trunc('day', "timestamp", 'UTC') as day,
            bcp_name,
            tool_name,
            count(*) as total_calls,
            {{ mart_error_class_counts() }},
            count(*) filter (where error_class <> 'caller_error') as eligible_calls,
            count(*) filter (
                where error_class in ('tool_error', 'server_error', 'transport_error')
            ) as budget_error_calls
        from calls
        group by 1, 2, 3
    ),

    windows as (
        select
            later.day,
            later.bcp_name,
            later.tool_name,
            sum(earlier.eligible_calls) as window_eligible_calls,
            sum(earlier.budget_error_calls) as window_error_calls
        from tool_days as later
        -- A build's check sums the window from the mart's own daily counts: each was compared
        -- with the raw rows by the check of the build that last rebuilt it (what a run
        -- rebuilds is always checked), so the window costs the checked days, not 28 days of
        -- raw rows each; the whole history's check sums the raw days themselves.
        inner join {{ 'tool_days' if whole_history else ref('tool_error_budget') }} as earlier
            on
                later.bcp_name = earlier.bcp_name
                and later.tool_name = earlier.tool_name
                and earlier.day > later.day - interval '672 hours'
                and earlier.day <= later.day
        group by later.day, later.bcp_name, later.tool_name
    )

    select
        tool_days.day,
        tool_days.bcp_name,
        tool_days.tool_name,
        tool_days.total_calls,
        tool_days.caller_error_calls,
        tool_days.tool_error_calls,
        tool_days.server_error_calls,
        tool_days.transport_error_calls,
        tool_days.eligible_calls,
        tool_days.budget_error_calls,
        round(
            tool_days.budget_error_calls::numeric / nullif(tool_days.eligible_calls, 0), 6
        ) as error_rate,
        targets.slo_target,
        28 as window_days,
        windows.window_eligible_calls,
        windows.window_error_calls,
        round(windows.window_error_calls / nullif(windows.window_eligible_calls, 0), 6)
            as window_error_rate,
        round((1 - targets.slo_target) * windows.window_eligible_calls, 2)
            as allowed_error_calls,
        round(
            1 - windows.window_error_calls
            / nullif((1 - targets.slo_target) * windows.window_eligible_calls, 0),
            6
        ) as budget_remaining,
        windows.window_error_calls > (1 - targets.slo_target) * windows.window_eligible_calls
            as is_budget_exhausted
    from tool_days
    inner join windows
        on
            tool_days.day = windows.day
            and tool_days.bcp_name = windows.bcp_name
            and tool_days.tool_name = windows.tool_name
    cross join lateral (
        select {{ raw_schema }}.mcp_slo_target(tool_days.bcp_name, tool_days.tool_name) as slo_target
    ) as targets
    where tool_days.{{ whole_window }}
{% endset %}

{{ mart_matches_reference(
    '(select * from ' ~ ref('tool_error_budget') ~ ' where ' ~ whole_window ~ ') as budget',
    ['day', 'bcp_name', 'tool_name', 'total_calls', 'caller_error_calls', 'tool_error_calls',
     'server_error_calls', 'transport_error_calls', 'eligible_calls', 'budget_error_calls',
     'error_rate', 'slo_target', 'window_days', 'window_eligible_calls', 'window_error_calls',
     'window_error_rate', 'allowed_error_calls', 'budget_remaining', 'is_budget_exhausted'],
    reference, checked) }}

{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['bcp_name', 'tool_name'], 'unique': true},
        ],
    )
}}

-- Every tool of every MCP server that has an inventory snapshot: advertised now (the server's
-- latest successful snapshot) or called in the last 7 days, with its status (called,
-- never_called: advertised without a call in the window, not_advertised: called but absent
-- from the latest definitions), usage, the definition it has now and the calls and server-fault
-- error rate in the 7 days before and after its latest definition change. Windows are whole
-- UTC hours counted back from as_of (the hour the row was built in); tool calls are those whose
-- operation is tools/call or a tool's own operation (not another MCP method such as
-- prompts/get, initialize or ping: mart_is_tool_call). Rebuilt whole on every run (its answer
-- moves with the clock), from the hourly tool summary (exact, so the counts are exact by
-- composition) and one hour of raw rows per tool for its last call: its cost follows the hourly
-- mart and the tools, not the raw history.

with

as_of as (
    select date_trunc('hour', now(), 'UTC') as as_of_hour
),

latest_snapshots as (
    {{ mart_latest_snapshots() }}
),

tool_versions as (
    select
        bcp_name,
        definition_name as tool_name,
        fingerprint,
        first_seen_at,
        first_snapshot_id,
        last_snapshot_id
    from {{ ref('stg_mcp__mcp_definition_versions') }}
    where kind = 'tool'
),

advertised as (
    select
        tool_versions.bcp_name,
        tool_versions.tool_name,
        tool_versions.fingerprint,
        tool_versions.first_seen_at as definition_since,
        tool_versions.first_snapshot_id
    from tool_versions
    inner join latest_snapshots
        on
            tool_versions.bcp_name = latest_snapshots.bcp_name
            and tool_versions.last_snapshot_id = latest_snapshots.snapshot_id
),

-- the current version's start is the latest change when an earlier, different version exists
latest_changes as (
    select
        advertised.bcp_name,
        advertised.tool_name,
        advertised.definition_since as changed_at,
        date_trunc('hour', advertised.definition_since, 'UTC') as change_hour,
        earlier.fingerprint as previous_fingerprint
    from advertised
    cross join
        lateral (
            select older.fingerprint
            from tool_versions as older
            where
                older.bcp_name = advertised.bcp_name
                and older.tool_name = advertised.tool_name
                and older.first_snapshot_id < advertised.first_snapshot_id
            order by older.first_snapshot_id desc
            limit 1
        ) as earlier
    where earlier.fingerprint <> advertised.fingerprint
),

tool_hours as (
    select
        hourly.hour,
        hourly.bcp_name,
        hourly.tool_name,
        sum(hourly.total_calls) as calls,
        sum(hourly.total_calls - hourly.caller_error_calls) as eligible_calls,
        sum(
            hourly.tool_error_calls + hourly.server_error_calls + hourly.transport_error_calls
        ) as error_calls
    from {{ ref('hourly_tool_usage_summary') }} as hourly
    where
        hourly.bcp_name in (select latest_snapshots.bcp_name from latest_snapshots)
        and {{ mart_is_tool_call('hourly') }}
    group by hourly.hour, hourly.bcp_name, hourly.tool_name
),

recent_usage as (
    select
        tool_hours.bcp_name,
        tool_hours.tool_name,
        sum(tool_hours.calls)::bigint as calls_last_7_days,
        sum(tool_hours.error_calls)::bigint as error_calls_last_7_days
    from tool_hours
    cross join as_of
    where tool_hours.hour > as_of.as_of_hour - interval '168 hours'
    group by tool_hours.bcp_name, tool_hours.tool_name
),

last_hours as (
    select
        bcp_name,
        tool_name,
        max(hour) as last_hour
    from tool_hours
    group by bcp_name, tool_name
),

tools as (
    select
        coalesce(advertised.bcp_name, recent_usage.bcp_name)::varchar(255) as bcp_name,
        coalesce(advertised.tool_name, recent_usage.tool_name)::varchar(1000) as tool_name,
        advertised.tool_name is not null as is_advertised,
        advertised.fingerprint as current_fingerprint,
        advertised.definition_since,
        coalesce(recent_usage.calls_last_7_days, 0) as calls_last_7_days,
        coalesce(recent_usage.error_calls_last_7_days, 0) as error_calls_last_7_days
    from advertised
    full outer join recent_usage
        on {{ mart_join_keys('advertised', 'recent_usage', ['bcp_name', 'tool_name']) }}
),

-- the exact last call, looked up in the raw rows of the last hour with calls (the hour itself
-- once retention has removed them): per tool, an index range of that hour's partition (a join
-- would read every raw call of the history)
last_calls as (
    select
        last_hours.bcp_name,
        last_hours.tool_name,
        coalesce(last_call.called_at, last_hours.last_hour) as last_called_at
    from last_hours
    -- joined on bcp_name as well, so that on Citus the lookup stays on the tool's shard
    -- (docs/scale-out.md)
    left join
        lateral (
            select
                calls.bcp_name,
                max(calls.called_at) as called_at
            from {{ ref('stg_mcp__tool_usage_logs') }} as calls
            where
                {{ mart_join_keys('last_hours', 'calls', ['bcp_name', 'tool_name']) }}
                and {{ mart_is_tool_call('calls') }}
                and last_hours.last_hour <= calls.called_at
                and calls.called_at < last_hours.last_hour + interval '1 hour'
            group by calls.bcp_name
        ) as last_call
        on last_hours.bcp_name = last_call.bcp_name
),

change_windows as (
    select
        latest_changes.bcp_name,
        latest_changes.tool_name,
        latest_changes.changed_at,
        latest_changes.previous_fingerprint,
        sum(tool_hours.calls) filter (where tool_hours.hour < latest_changes.change_hour)::bigint
            as calls_before_change,
        sum(tool_hours.eligible_calls) filter (where tool_hours.hour < latest_changes.change_hour)
            as eligible_before_change,
        sum(tool_hours.error_calls) filter (where tool_hours.hour < latest_changes.change_hour)
            as errors_before_change,
        sum(tool_hours.calls) filter (where tool_hours.hour >= latest_changes.change_hour)::bigint
            as calls_after_change,
        sum(tool_hours.eligible_calls) filter (where tool_hours.hour >= latest_changes.change_hour)
            as eligible_after_change,
        sum(tool_hours.error_calls) filter (where tool_hours.hour >= latest_changes.change_hour)
            as errors_after_change
    from latest_changes
    left join tool_hours
        on
            {{ mart_join_keys('latest_changes', 'tool_hours', ['bcp_name', 'tool_name']) }}
            and tool_hours.hour >= latest_changes.change_hour - interval '168 hours'
            and tool_hours.hour < latest_changes.change_hour + interval '168 hours'
    group by
        latest_changes.bcp_name,
        latest_changes.tool_name,
        latest_changes.changed_at,
        latest_changes.previous_fingerprint
)

select
    tools.bcp_name,
    tools.tool_name,
    case
        when not tools.is_advertised then 'not_advertised'
        when tools.calls_last_7_days > 0 then 'called'
        else 'never_called'
    end as status,
    tools.is_advertised,
    tools.calls_last_7_days,
    tools.error_calls_last_7_days,
    last_calls.last_called_at,
    tools.current_fingerprint,
    tools.definition_since,
    change_windows.changed_at as latest_change_at,
    change_windows.previous_fingerprint,
    coalesce(change_windows.calls_before_change, 0) as calls_before_change,
    round(
        change_windows.errors_before_change / nullif(change_windows.eligible_before_change, 0),
        6
    ) as error_rate_before_change,
    coalesce(change_windows.calls_after_change, 0) as calls_after_change,
    round(
        change_windows.errors_after_change / nullif(change_windows.eligible_after_change, 0),
        6
    ) as error_rate_after_change,
    latest_snapshots.taken_at as inventory_taken_at,
    as_of.as_of_hour as as_of,
    now() as refreshed_at
from tools
cross join as_of
inner join latest_snapshots
    on tools.bcp_name = latest_snapshots.bcp_name
left join last_calls
    on {{ mart_join_keys('tools', 'last_calls', ['bcp_name', 'tool_name']) }}
left join change_windows
    on {{ mart_join_keys('tools', 'change_windows', ['bcp_name', 'tool_name']) }}

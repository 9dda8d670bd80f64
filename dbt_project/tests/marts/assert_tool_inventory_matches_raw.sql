{{ config(meta={'dagster': {'ref': {'name': 'tool_inventory'}}}) }}

-- Status, usage, last call and current fingerprint recomputed for the mart's as_of hour,
-- compared both ways, as of the snapshots the model read: one recorded between the mart's
-- rebuild and this test (taken after its refreshed_at) is left out, and a version that
-- snapshot extended (last_snapshot_id moved on) counts as listed by the latest snapshot the
-- model read if it was open then. The 7 days' counts: the daily whole-history check (var
-- mart_exactness_scope 'full') counts the raw calls; a build's check adds up the hourly tool
-- summary's hours, each equal to its raw rows (compared by the check of the build that last
-- rebuilt it, and every day by the whole-history check), so that it costs the week's hourly
-- rows, not its raw calls. The last call is looked up in the raw rows in both scopes.
{% set whole_history = mart_exactness_scope() == 'full' %}
{% set hourly = ref('hourly_tool_usage_summary') %}
{#- the conditions on a call (raw) or an hour (hourly summary): {0} the alias, {1} the time -#}
{% set tool_call = mart_is_tool_call('{0}') %}
{% set week_start = mart_exactness_time_literal(
    "select max(built.as_of) - interval '167 hours' from " ~ ref('tool_inventory') ~ " as built") %}
{% set recent_call = "{0}.bcp_name in (select latest.bcp_name from latest) and (" ~ tool_call
    ~ ") and {1} >= " ~ week_start %}
{% set reference %}
    with

    as_of as (
        select
            max(built.as_of) as as_of_hour,
            max(built.refreshed_at) as refreshed_at
        from {{ ref('tool_inventory') }} as built
    ),

    seen_snapshots as (
        select snapshots.id
        from {{ source('mcp', 'mcp_inventory_snapshots') }} as snapshots
        cross join as_of
        where snapshots.taken_at <= as_of.refreshed_at
    ),

    latest as (
        select distinct on (snapshots.bcp_name)
            snapshots.bcp_name,
            snapshots.id
        from {{ source('mcp', 'mcp_inventory_snapshots') }} as snapshots
        where
            snapshots.error is null
            and snapshots.id in (select seen_snapshots.id from seen_snapshots)
        order by snapshots.bcp_name asc, snapshots.taken_at desc, snapshots.id desc
    ),

    advertised as (
        select
            versions.bcp_name,
            versions.name as tool_name,
            versions.fingerprint
        from {{ source('mcp', 'mcp_definition_versions') }} as versions
        inner join latest
            on
                versions.bcp_name = latest.bcp_name
                and (
                    versions.last_snapshot_id = latest.id
                    or (
                        versions.first_snapshot_id <= latest.id
                        and versions.last_snapshot_id not in (
                            select seen_snapshots.id from seen_snapshots
                        )
                    )
                )
        where versions.kind = 'tool'
    ),

    {% if whole_history %}
    -- the last 7 days of calls only (an index range): the last call of each tool is looked up
    -- on its own below
    calls as (
        {{ mart_reference_tool_calls(['bcp_name', 'tool_name', '"timestamp"'], condition=recent_call.format('raw_calls', 'raw_calls."timestamp"')) }}
    ),

    recent as (
        select
            calls.bcp_name,
            calls.tool_name,
            count(*) as calls_last_7_days,
            count(*) filter (
                where calls.error_class in ('tool_error', 'server_error', 'transport_error')
            ) as error_calls_last_7_days
        from calls
        group by calls.bcp_name, calls.tool_name
    ),
    {% else %}
    -- the week's hours of the hourly summary (exact: see above)
    recent as (
        select
            week.bcp_name,
            week.tool_name,
            sum(week.total_calls)::bigint as calls_last_7_days,
            sum(
                week.tool_error_calls + week.server_error_calls + week.transport_error_calls
            )::bigint as error_calls_last_7_days
        from {{ hourly }} as week
        where
            {{ recent_call.format('week', 'week.hour') }}
        group by week.bcp_name, week.tool_name
    ),
    {% endif %}

    inventory as (
        select
            coalesce(advertised.bcp_name, recent.bcp_name) as bcp_name,
            coalesce(advertised.tool_name, recent.tool_name) as tool_name,
            case
                when advertised.tool_name is null then 'not_advertised'
                when coalesce(recent.calls_last_7_days, 0) > 0 then 'called'
                else 'never_called'
            end as status,
            coalesce(recent.calls_last_7_days, 0) as calls_last_7_days,
            coalesce(recent.error_calls_last_7_days, 0) as error_calls_last_7_days,
            advertised.fingerprint as current_fingerprint
        from advertised
        full outer join recent
            on advertised.bcp_name = recent.bcp_name and advertised.tool_name = recent.tool_name
    ),

    -- each listed tool's last call, newest first in the (tool_name, "timestamp") index, instead
    -- of every raw call of the history
    last_calls as (
        select
            inventory.bcp_name,
            inventory.tool_name,
            latest_call.last_called_at
        from inventory
        cross join lateral (
            select max(raw_calls."timestamp") as last_called_at
            from {{ source('mcp', 'tool_usage_logs') }} as raw_calls
            where
                raw_calls.tool_name = inventory.tool_name
                and raw_calls.bcp_name = inventory.bcp_name
                and raw_calls."timestamp" is not null
                and ({{ tool_call.format('raw_calls') }})
        ) as latest_call
    )

    select
        inventory.bcp_name,
        inventory.tool_name,
        inventory.status,
        inventory.calls_last_7_days,
        inventory.error_calls_last_7_days,
        last_calls.last_called_at,
        inventory.current_fingerprint
    from inventory
    left join last_calls
        on {{ mart_join_keys('inventory', 'last_calls', ['bcp_name', 'tool_name']) }}
{% endset %}

{{ mart_equals_reference(
    ref('tool_inventory'),
    ['bcp_name', 'tool_name', 'status', 'calls_last_7_days', 'error_calls_last_7_days',
     'last_called_at', 'current_fingerprint'],
    reference) }}

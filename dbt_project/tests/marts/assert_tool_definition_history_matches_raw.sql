{{ config(meta={'dagster': {'ref': {'name': 'tool_definition_history'}}}) }}

-- The history recomputed from the raw inventory tables, independently of the model (counts
-- instead of window functions), compared both ways, as of the snapshots the model read: a
-- snapshot recorded between the mart's rebuild and this test (taken after the mart's
-- refreshed_at, the rebuild's start) is left out. Its new versions are not compared; a version it extended
-- (last_snapshot_id moved on) was current for the model, and its last_seen_at and times_seen
-- are no longer what the model read, so they are left out on both sides.
{% set seen %}
    select snapshots.id
    from {{ source('mcp', 'mcp_inventory_snapshots') }} as snapshots
    where snapshots.taken_at <= (
        select max(built.refreshed_at) from {{ ref('tool_definition_history') }} as built
    )
{% endset %}

{% set mart %}
    (
        select
            built.bcp_name,
            built.kind,
            built.definition_name,
            built.version_number,
            built.fingerprint,
            built.previous_fingerprint,
            built.change_kind,
            built.first_seen_at,
            case when extended.is_extended then null else built.last_seen_at end as last_seen_at,
            case when extended.is_extended then null else built.times_seen end as times_seen,
            built.is_current,
            built.definition
        from {{ ref('tool_definition_history') }} as built
        cross join lateral (
            select exists (
                select 1
                from {{ source('mcp', 'mcp_definition_versions') }} as raw_versions
                where
                    raw_versions.bcp_name = built.bcp_name
                    and raw_versions.kind = built.kind
                    and raw_versions.name = built.definition_name
                    and raw_versions.first_seen_at = built.first_seen_at
                    and raw_versions.last_snapshot_id not in ({{ seen }})
            ) as is_extended
        ) as extended
    ) as mart_as_read
{% endset %}

{% set reference %}
    with

    seen_snapshots as (
        {{ seen }}
    ),

    versions as (
        select
            v.bcp_name,
            v.kind,
            v.name,
            v.fingerprint,
            v.definition,
            v.first_seen_at,
            v.last_seen_at,
            v.times_seen,
            v.last_snapshot_id,
            (
                select count(*)
                from {{ source('mcp', 'mcp_definition_versions') }} as earlier
                where
                    earlier.bcp_name = v.bcp_name
                    and earlier.kind = v.kind
                    and earlier.name = v.name
                    and earlier.first_snapshot_id in (select seen_snapshots.id from seen_snapshots)
                    and (earlier.first_seen_at, earlier.first_snapshot_id)
                    <= (v.first_seen_at, v.first_snapshot_id)
            ) as version_number,
            v.last_snapshot_id not in (select seen_snapshots.id from seen_snapshots) as is_extended
        from {{ source('mcp', 'mcp_definition_versions') }} as v
        where v.first_snapshot_id in (select seen_snapshots.id from seen_snapshots)
    )

    select
        versions.bcp_name,
        versions.kind,
        versions.name as definition_name,
        versions.version_number,
        versions.fingerprint,
        previous.fingerprint as previous_fingerprint,
        case
            when previous.fingerprint is null then 'added'
            when previous.fingerprint <> versions.fingerprint then 'changed'
            else 'returned'
        end as change_kind,
        versions.first_seen_at,
        case when versions.is_extended then null else versions.last_seen_at end as last_seen_at,
        case when versions.is_extended then null else versions.times_seen end as times_seen,
        versions.is_extended or versions.last_snapshot_id = (
            select latest.id
            from {{ source('mcp', 'mcp_inventory_snapshots') }} as latest
            where
                latest.bcp_name = versions.bcp_name
                and latest.error is null
                and latest.id in (select seen_snapshots.id from seen_snapshots)
            order by latest.taken_at desc, latest.id desc
            limit 1
        ) as is_current,
        versions.definition
    from versions
    left join versions as previous
        on
            versions.bcp_name = previous.bcp_name
            and versions.kind = previous.kind
            and versions.name = previous.name
            and versions.version_number - 1 = previous.version_number
{% endset %}

{{ mart_equals_reference(
    mart,
    ['bcp_name', 'kind', 'definition_name', 'version_number', 'fingerprint',
     'previous_fingerprint', 'change_kind', 'first_seen_at', 'last_seen_at', 'times_seen',
     'is_current', 'definition'],
    reference) }}

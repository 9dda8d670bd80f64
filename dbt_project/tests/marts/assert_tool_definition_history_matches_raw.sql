{{ config(meta={'dagster': {'ref': {'name': 'tool_definition_history'}}}) }}

-- The history recomputed from the raw inventory tables, independently of the model (counts
-- instead of window functions), compared both ways.
{% set reference %}
    with

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
                    and (earlier.first_seen_at, earlier.first_snapshot_id)
                    <= (v.first_seen_at, v.first_snapshot_id)
            ) as version_number
        from {{ source('mcp', 'mcp_definition_versions') }} as v
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
        versions.last_seen_at,
        versions.times_seen,
        versions.last_snapshot_id = (
            select latest.id
            from {{ source('mcp', 'mcp_inventory_snapshots') }} as latest
            where latest.bcp_name = versions.bcp_name and latest.error is null
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
    ref('tool_definition_history'),
    ['bcp_name', 'kind', 'definition_name', 'version_number', 'fingerprint',
     'previous_fingerprint', 'change_kind', 'first_seen_at', 'last_seen_at', 'times_seen',
     'is_current', 'definition'],
    reference) }}

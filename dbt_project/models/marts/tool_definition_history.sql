{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['bcp_name', 'kind', 'definition_name', 'version_number'], 'unique': true},
        ],
    )
}}

-- Each version of each definition an MCP server advertised, in order: when it was first and
-- last seen, how often, whether the server lists it now, and what changed from the version
-- before (the top-level fields that differ). Rebuilt whole on every run: its source is a small
-- state table (one row per version period, bootstrap_sql/082), not an event stream, so there
-- is no late data to follow.

with

latest_snapshots as (
    {{ mart_latest_snapshots() }}
),

ordered as (
    select
        bcp_name,
        kind,
        definition_name,
        fingerprint,
        definition,
        first_seen_at,
        last_seen_at,
        first_snapshot_id,
        last_snapshot_id,
        times_seen,
        row_number() over definition_versions as version_number,
        lag(fingerprint) over definition_versions as previous_fingerprint,
        lag(definition) over definition_versions as previous_definition,
        lag(last_snapshot_id) over definition_versions as previous_last_snapshot_id
    from {{ ref('stg_mcp__mcp_definition_versions') }}
    window definition_versions as (
        partition by bcp_name, kind, definition_name
        order by first_seen_at, first_snapshot_id
    )
),

-- the top-level fields of a version and of the version before
version_fields as (
    select
        bcp_name,
        kind,
        definition_name,
        version_number,
        jsonb_object_keys(definition) as field_name
    from ordered
    where previous_definition is not null
    union
    select
        bcp_name,
        kind,
        definition_name,
        version_number,
        jsonb_object_keys(previous_definition) as field_name
    from ordered
    where previous_definition is not null
),

-- those whose values differ
changes as (
    select
        ordered.bcp_name,
        ordered.kind,
        ordered.definition_name,
        ordered.version_number,
        array_agg(version_fields.field_name order by version_fields.field_name) filter (
            where
            ordered.definition -> version_fields.field_name
            is distinct from ordered.previous_definition -> version_fields.field_name
        ) as changed_fields
    from ordered
    inner join version_fields
        on
            ordered.bcp_name = version_fields.bcp_name
            and ordered.kind = version_fields.kind
            and ordered.definition_name = version_fields.definition_name
            and ordered.version_number = version_fields.version_number
    group by ordered.bcp_name, ordered.kind, ordered.definition_name, ordered.version_number
),

final as (
    select
        ordered.bcp_name,
        ordered.kind,
        ordered.definition_name,
        ordered.version_number,
        ordered.fingerprint,
        ordered.previous_fingerprint,
        case
            when ordered.previous_fingerprint is null then 'added'
            when ordered.previous_fingerprint <> ordered.fingerprint then 'changed'
            else 'returned'
        end as change_kind,
        coalesce(changes.changed_fields, array[]::text[]) as changed_fields,
        ordered.first_seen_at,
        ordered.last_seen_at,
        ordered.times_seen,
        -- listed by the server's latest successful snapshot
        coalesce(ordered.last_snapshot_id = latest_snapshots.snapshot_id, false) as is_current,
        ordered.definition ->> 'description' as description,
        ordered.definition,
        now() as refreshed_at
    from ordered
    left join changes
        on
            ordered.bcp_name = changes.bcp_name
            and ordered.kind = changes.kind
            and ordered.definition_name = changes.definition_name
            and ordered.version_number = changes.version_number
    left join latest_snapshots
        on ordered.bcp_name = latest_snapshots.bcp_name
)

select
    bcp_name,
    kind,
    definition_name,
    version_number,
    fingerprint,
    previous_fingerprint,
    change_kind,
    changed_fields,
    first_seen_at,
    last_seen_at,
    times_seen,
    is_current,
    description,
    definition,
    refreshed_at
from final

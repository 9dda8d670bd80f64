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
)

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
    -- the top-level fields (of either version) whose values differ from the version before's;
    -- none for a first version
    coalesce(
        (
            select array_agg(top_fields.field_name order by top_fields.field_name)
            from
                jsonb_object_keys(
                    ordered.definition || ordered.previous_definition
                ) as top_fields (field_name)
            where
                ordered.definition -> top_fields.field_name
                is distinct from ordered.previous_definition -> top_fields.field_name
        ),
        array[]::text[]
    ) as changed_fields,
    ordered.first_seen_at,
    ordered.last_seen_at,
    ordered.times_seen,
    -- listed by the server's latest successful snapshot
    coalesce(ordered.last_snapshot_id = latest_snapshots.snapshot_id, false) as is_current,
    ordered.definition ->> 'description' as description,
    ordered.definition,
    now() as refreshed_at
from ordered
left join latest_snapshots
    on ordered.bcp_name = latest_snapshots.bcp_name

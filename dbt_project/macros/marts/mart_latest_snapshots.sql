{#- The latest successful inventory snapshot of each MCP server (the body of a CTE): one row per
    bcp_name with its snapshot_id and taken_at; the later id wins a tie on taken_at. -#}
{% macro mart_latest_snapshots() %}
    select distinct on (bcp_name)
        bcp_name,
        snapshot_id,
        taken_at
    from {{ ref('stg_mcp__mcp_inventory_snapshots') }}
    where is_success
    order by bcp_name asc, taken_at desc, snapshot_id desc
{% endmacro %}

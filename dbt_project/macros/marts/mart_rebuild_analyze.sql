{#- Last statement of every pre-hook step that changes pg_temp.mart_rebuild: ANALYZE it (row
    count and spread for the planner) and publish its first and last bucket as settings of the
    model's transaction, which mart_rebuild_bounds reads. A setting, unlike a subquery on the
    table, is a value the planner sees when it plans the model (current_setting() is stable):
    it estimates the range from the column's statistics instead of guessing 0.5 % of the rows,
    so a wide late-data range is scanned as the many rows it is, not looped over. -#}
{% macro mart_rebuild_analyze() %}
    analyze pg_temp.mart_rebuild;
    -- ISO text in UTC, read back whatever the session's DateStyle; empty: an empty range
    select
        set_config(
            'mcp_analytics.mart_rebuild_first',
            coalesce(to_char(min(rebuilt.bucket) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'infinity'),
            true
        ) as first_bucket,
        set_config(
            'mcp_analytics.mart_rebuild_last',
            coalesce(to_char(max(rebuilt.bucket) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '-infinity'),
            true
        ) as last_bucket
    from pg_temp.mart_rebuild as rebuilt;
{% endmacro %}

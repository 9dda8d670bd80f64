{#- Bounds of the buckets being rebuilt, as a sargable range on the event time: partitions
    outside it are pruned when the query starts, and the planner estimates the range from the
    column's statistics (the first and last bucket are settings published by
    mart_rebuild_analyze, values it sees, where a subquery on pg_temp.mart_rebuild would be
    an unknown it guesses at 0.5 % of the rows): an index scan for a few hours, a sequential
    scan for months. `truncate_to` widens hour buckets to whole days
    (performance_metrics_summary's '1d'). -#}
{% macro mart_rebuild_bounds(column, grain='hour', truncate_to=none) %}
    {%- if grain not in ('hour', 'day') or truncate_to not in (none, 'hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart_rebuild_bounds: grain and truncate_to must be 'hour' or 'day', got "
            ~ grain ~ ' and ' ~ truncate_to) }}
    {%- endif -%}
    {%- set lowest = "current_setting('mcp_analytics.mart_rebuild_first')::timestamptz" -%}
    {%- set highest = "current_setting('mcp_analytics.mart_rebuild_last')::timestamptz" -%}
    {%- if truncate_to -%}
        {%- set lowest = "date_trunc('" ~ truncate_to ~ "', " ~ lowest ~ ", 'UTC')" -%}
        {%- set highest = "date_trunc('" ~ truncate_to ~ "', " ~ highest ~ ", 'UTC')" -%}
        {%- set grain = truncate_to -%}
    {%- endif -%}
    {{ column }} >= {{ lowest }}
    and {{ column }} < {{ highest }} + interval '1 {{ grain }}'
{%- endmacro %}

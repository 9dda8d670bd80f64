{#- Bounds of the buckets being rebuilt, as a sargable range on the event time: with it the
    planner prunes partitions at run time and range-scans the "timestamp" index instead of
    scanning every row against the join (its estimate of the join alone is blind).
    `truncate_to` widens hour buckets to whole days (performance_metrics_summary's '1d'). -#}
{% macro mart_rebuild_bounds(column, grain='hour', truncate_to=none) %}
    {%- if grain not in ('hour', 'day') or truncate_to not in (none, 'hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart_rebuild_bounds: grain and truncate_to must be 'hour' or 'day', got "
            ~ grain ~ ' and ' ~ truncate_to) }}
    {%- endif -%}
    {%- set lowest = "(select min(bounds.bucket) from pg_temp.mart_rebuild as bounds)" -%}
    {%- set highest = "(select max(bounds.bucket) from pg_temp.mart_rebuild as bounds)" -%}
    {%- if truncate_to -%}
        {%- set lowest = "date_trunc('" ~ truncate_to ~ "', " ~ lowest ~ ", 'UTC')" -%}
        {%- set highest = "date_trunc('" ~ truncate_to ~ "', " ~ highest ~ ", 'UTC')" -%}
        {%- set grain = truncate_to -%}
    {%- endif -%}
    {{ column }} >= {{ lowest }}
    and {{ column }} < {{ highest }} + interval '1 {{ grain }}'
{%- endmacro %}

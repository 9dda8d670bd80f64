{#- The `from` and `where` clauses of a mart's source rows: on a first build every row whose
    time is set, on an incremental run only the rows in the buckets being rebuilt
    (pg_temp.mart_rebuild, filled by mart_claim_dirty), by a join on the buckets and their
    bounds as a sargable range (mart_rebuild_bounds). -#}
{% macro mart_rows_to_rebuild(relation, alias, time_column, grain, condition=none) %}
    {%- do assert_identifier(alias, 'mart_rows_to_rebuild', 'alias') -%}
    {%- do assert_identifier(time_column, 'mart_rows_to_rebuild', 'time_column') -%}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart_rows_to_rebuild: grain must be 'hour' or 'day', got " ~ grain) }}
    {%- endif -%}
    {%- set event_time = alias ~ '.' ~ time_column -%}
    {%- set condition = condition or event_time ~ ' is not null' -%}
    from {{ relation }} as {{ alias }}
    {% if is_incremental() %}
        inner join pg_temp.mart_rebuild as rebuild_buckets
            on
                {{ event_time }} >= rebuild_buckets.bucket
                and {{ event_time }} < rebuild_buckets.bucket + interval '1 {{ grain }}'
    {% endif %}
    where {{ condition }}
    {%- if is_incremental() %}
        and {{ mart_rebuild_bounds(event_time, grain) }}
    {%- endif %}
{%- endmacro %}

{#- The `from` and `where` clauses of a mart's source rows: on a first build every row whose
    time is set, on an incremental run only the rows in the buckets being rebuilt
    (pg_temp.mart_rebuild, filled by mart_claim_dirty): within their bounds as a sargable
    range (mart_rebuild_bounds), and whose bucket is one of them, a semi-join on equality
    the planner hashes. (A join on `time >= bucket and time < bucket + 1 grain` can only be
    a nested loop: over months of late data, every row against every bucket.) -#}
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
    where {{ condition }}
    {%- if is_incremental() %}
        and {{ mart_rebuild_bounds(event_time, grain) }}
        and date_trunc('{{ grain }}', {{ event_time }}, 'UTC') in (
            select rebuild_buckets.bucket from pg_temp.mart_rebuild as rebuild_buckets
        )
    {%- endif %}
{%- endmacro %}

{#-
    Body of a singular test: the mart's rows equal a recomputation from the raw rows
    (`reference_sql`), compared with except all both ways over the buckets of this build's check
    (mart_exactness_buckets: those the mart's last run rebuilt and a sample; the whole history
    with var mart_exactness_scope 'full') within mart_exactness_filter. `reference_sql` may
    join `mart_exactness_join` on its raw rows so that it reads only those buckets. Returns one
    row per difference, labelled with the side it is only in.
-#}
{% macro mart_matches_reference(
    mart, columns, reference_sql, time_column, raw_source, pending_marts, grain=none
) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_matches_reference: columns must be a non-empty list of columns, got '
            ~ columns) }}
    {%- endif -%}
    {%- set grain = mart_exactness_grain(grain, time_column) -%}
    {%- set column_list = columns | join(', ') -%}
    with exactness_buckets as (
        {{ mart_exactness_buckets(mart, time_column, raw_source, grain) }}
    ),

    mart_rows as (
        select {{ column_list }}
        from {{ mart }} {{ mart_exactness_join(time_column, grain) }}
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts, grain) }}
    ),

    reference_rows as (
        select {{ column_list }}
        from ({{ reference_sql }}) as reference
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts, grain) }}
    ),

    {{ mart_differences(columns) }}
{% endmacro %}

{#-
    Body of a singular test: the mart's rows equal a recomputation from the raw rows
    (`reference_sql`), compared with except all both ways over mart_exactness_filter's window.
    Returns one row per difference, labelled with the side it is only in.
-#}
{% macro mart_matches_reference(mart, columns, reference_sql, time_column, raw_source, pending_marts) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_matches_reference: columns must be a non-empty list of columns, got '
            ~ columns) }}
    {%- endif -%}
    {%- set column_list = columns | join(', ') -%}
    with mart_rows as (
        select {{ column_list }}
        from {{ mart }}
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts) }}
    ),

    reference_rows as (
        select {{ column_list }}
        from ({{ reference_sql }}) as reference
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts) }}
    ),

    only_in_mart as (
        select {{ column_list }} from mart_rows
        except all
        select {{ column_list }} from reference_rows
    ),

    only_in_reference as (
        select {{ column_list }} from reference_rows
        except all
        select {{ column_list }} from mart_rows
    )

    select 'only in the mart' as side, {{ column_list }} from only_in_mart
    union all
    select 'only in the recomputation' as side, {{ column_list }} from only_in_reference
{% endmacro %}

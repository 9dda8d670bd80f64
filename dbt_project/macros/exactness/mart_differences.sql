{#-
    The end of a comparison query: the CTEs `only_in_mart` and `only_in_reference` (except all
    both ways over `columns`) after the caller's CTEs `mart_rows` and `reference_rows`, and the
    select returning one row per difference, labelled with the side it is only in.
-#}
{% macro mart_differences(columns) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_differences: columns must be a non-empty list of columns, got ' ~ columns) }}
    {%- endif -%}
    {%- set column_list = columns | join(', ') -%}
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

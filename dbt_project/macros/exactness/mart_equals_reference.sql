{#-
    Body of a singular test for a mart rebuilt whole on every run (state, not events: no
    buckets, no ledger): all its rows equal `reference_sql`'s over `columns`, compared with
    except all both ways (mart_differences). Returns one row per difference.
-#}
{% macro mart_equals_reference(mart, columns, reference_sql) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_equals_reference: columns must be a non-empty list of columns, got '
            ~ columns) }}
    {%- endif -%}
    {%- set column_list = columns | join(', ') -%}
    with mart_rows as (
        select {{ column_list }} from {{ mart }}
    ),

    reference_rows as (
        select {{ column_list }} from ({{ reference_sql }}) as reference
    ),

    {{ mart_differences(columns) }}
{% endmacro %}

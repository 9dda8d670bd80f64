{#-
    Body of a singular test for a mart rebuilt whole on every run (state, not events: no
    buckets, no ledger): all its rows equal `reference_sql`'s over `columns`, compared with
    except all both ways (mart_differences). Returns one row per difference.
-#}
{% macro mart_equals_reference(mart, columns, reference_sql) %}
    {%- set column_list = mart_exactness_columns(columns, 'mart_equals_reference') -%}
    with mart_rows as (
        select {{ column_list }} from {{ mart }}
    ),

    reference_rows as (
        select {{ column_list }} from ({{ reference_sql }}) as reference
    ),

    {{ mart_differences(columns) }}
{% endmacro %}

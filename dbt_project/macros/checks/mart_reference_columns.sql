{#- The columns a recomputation (`reference_sql`, a query) returns, in order, read when the
    check is compiled for a run (dbt's get_columns_in_query: the query planned, no row read),
    so that a check compares every column its recomputation computes without naming them
    twice; before the database can be read (parse), a placeholder. -#}
{% macro mart_reference_columns(reference_sql) %}
    {%- if reference_sql is not string or not reference_sql.strip() -%}
        {{ exceptions.raise_compiler_error(
            'mart_reference_columns: reference_sql must be a query, got ' ~ reference_sql) }}
    {%- endif -%}
    {{ return(get_columns_in_query(reference_sql) if execute else ['placeholder']) }}
{% endmacro %}

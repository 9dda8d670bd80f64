{#- The source rows of a mart's rebuild (the body of a CTE): each row's bucket, its time
    truncated in UTC to `grain` and named after it, and `columns` of `relation` (alias
    `alias`), from the rows mart_rows_to_rebuild selects (every row whose time is set on a
    first build, the rows of the buckets being rebuilt on an incremental run). A column is a
    plain name, read from `alias`, or an expression with its alias, written as given. -#}
{% macro mart_source_rows(relation, alias, time_column, grain, columns) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_source_rows: columns must be a non-empty list of columns, got ' ~ columns) }}
    {%- endif -%}
    select
        date_trunc('{{ grain }}', {{ alias }}.{{ time_column }}, 'UTC') as {{ grain }},
    {%- for column in columns %}
        {{ alias ~ '.' if column.isidentifier() }}{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
    {{ mart_rows_to_rebuild(relation, alias, time_column, grain) }}
{%- endmacro %}

{#- The columns of a comparison as a select list (`a, b, c`); a compiler error naming
    `macro_name` unless `columns` is a non-empty list. -#}
{% macro mart_exactness_columns(columns, macro_name) %}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            macro_name ~ ': columns must be a non-empty list of columns, got ' ~ columns) }}
    {%- endif -%}
    {{- return(columns | join(', ')) -}}
{% endmacro %}

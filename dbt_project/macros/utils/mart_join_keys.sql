{#- The condition of a join on the grain: `<left>.<c> = <right>.<c>` for each column, joined
    by `and` (an equality on every key, which the planner can hash or merge). -#}
{% macro mart_join_keys(left, right, columns) %}
    {%- do assert_identifier(left, 'mart_join_keys', 'left') -%}
    {%- do assert_identifier(right, 'mart_join_keys', 'right') -%}
    {%- if columns is string or columns is not iterable or not columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_join_keys: columns must be a non-empty list of columns, got ' ~ columns) }}
    {%- endif -%}
    {%- for column in columns -%}
        {%- do assert_identifier(column, 'mart_join_keys', 'columns') -%}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor -%}
{% endmacro %}

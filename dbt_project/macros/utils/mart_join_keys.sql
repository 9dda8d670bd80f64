{#- The condition of a join on the grain: `<left>.<c> = <right>.<c>` for each column, joined
    by `and` (an equality on every key, which the planner can hash or merge). -#}
{% macro mart_join_keys(left, right, columns) %}
    {%- do assert_identifier(left, 'mart_join_keys', 'left') -%}
    {%- do assert_identifier(right, 'mart_join_keys', 'right') -%}
    {%- for column in assert_identifiers(columns, 'mart_join_keys', 'columns') -%}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor -%}
{% endmacro %}

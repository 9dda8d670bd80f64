{#- When partial rows of transport sessions (int_session_hours, int_session_days) are merged:
    for each of `columns`, its value in the earliest partial of the group (by first_called_at,
    then first_tool_call_id; a row of 0 operations, whose times are null, comes last), as
    select-list entries named after the columns, read from `alias`. -#}
{% macro mart_session_first_of_parts(alias, columns) %}
    {%- do assert_identifier(alias, 'mart_session_first_of_parts', 'alias') -%}
    {%- for column in assert_identifiers(columns, 'mart_session_first_of_parts', 'columns') -%}
        (array_agg({{ alias }}.{{ column }} order by {{ alias }}.first_called_at, {{ alias }}.first_tool_call_id))[1]
            as {{ column }}
        {%- if not loop.last %},{% endif %}
    {% endfor -%}
{%- endmacro %}

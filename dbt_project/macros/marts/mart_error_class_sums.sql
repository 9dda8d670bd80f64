{#- The calls of a group by error class, added up from rows that already count them (an hour's
    or a day's `<class>_calls`): four comma-separated columns `sum(<class>_calls)::bigint as
    <class>_calls`, each read from `relation` when given. No trailing comma. -#}
{% macro mart_error_class_sums(relation=none) %}
    {%- if relation is not none -%}
        {%- do assert_identifier(relation, 'mart_error_class_sums', 'relation') -%}
    {%- endif -%}
    {%- set prefix = relation ~ '.' if relation is not none else '' -%}
    {%- for class in ['tool_error', 'caller_error', 'server_error', 'transport_error'] -%}
        sum({{ prefix }}{{ class }}_calls)::bigint as {{ class }}_calls
        {%- if not loop.last %},
        {% endif -%}
    {%- endfor -%}
{% endmacro %}

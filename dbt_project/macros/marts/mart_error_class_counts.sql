{#- The calls of a group by error class (bootstrap_sql/080: tool, caller, server, transport),
    four comma-separated columns `<class>_calls`, counted on `error_class` (a column or
    expression). No trailing comma. -#}
{% macro mart_error_class_counts(error_class='error_class') %}
    {%- if error_class is not string or not error_class.strip() -%}
        {{ exceptions.raise_compiler_error(
            'mart_error_class_counts: error_class must be a column, got ' ~ error_class) }}
    {%- endif -%}
    {%- for class in ['tool_error', 'caller_error', 'server_error', 'transport_error'] -%}
        count(*) filter (where {{ error_class }} = '{{ class }}') as {{ class }}_calls
        {%- if not loop.last %},
        {% endif -%}
    {%- endfor -%}
{% endmacro %}

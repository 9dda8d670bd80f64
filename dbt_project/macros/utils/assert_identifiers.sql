{#- Refuse anything but a non-empty list of plain lowercase SQL identifiers (each checked by
    assert_identifier), for list arguments that reach SQL unquoted (a grain's columns, a
    mart's source tables). Returns the list. -#}
{% macro assert_identifiers(values, macro_name, argument) %}
    {%- if values is string or values is not iterable or not values -%}
        {{ exceptions.raise_compiler_error(
            macro_name ~ ': ' ~ argument ~ ' must be a non-empty list of plain lowercase '
            ~ 'identifiers such as ["hour", "bcp_name"], got ' ~ values) }}
    {%- endif -%}
    {%- for value in values -%}
        {%- do assert_identifier(value, macro_name, argument) -%}
    {%- endfor -%}
    {{ return(values | list) }}
{% endmacro %}

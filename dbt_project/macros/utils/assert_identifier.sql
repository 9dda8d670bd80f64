{#- Refuse anything but a plain lowercase SQL identifier, for arguments that reach SQL unquoted
    (column and table names written in a model's config). Returns the value. -#}
{% macro assert_identifier(value, macro_name, argument) %}
    {% if value is not string or not (value.isascii() and value.isidentifier()
            and value == value | lower and value | length <= 63) %}
        {{ exceptions.raise_compiler_error(
            macro_name ~ ': ' ~ argument ~ ' must be a plain lowercase identifier such as '
            ~ '"tool_usage_logs", got ' ~ (value | string)) }}
    {% endif %}
    {{ return(value) }}
{% endmacro %}

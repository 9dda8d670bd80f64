{#- `value` when it is a whole number, at least 0; else a compiler error: `what` must be a whole
    number of `unit`. -#}
{% macro mart_exactness_whole_number(value, what, unit) %}
    {%- if value is not number or value is boolean or value != value | int or value < 0 -%}
        {{ exceptions.raise_compiler_error(
            what ~ ' must be a whole number of ' ~ unit ~ ', got ' ~ value) }}
    {%- endif -%}
    {{- return(value | int) -}}
{% endmacro %}

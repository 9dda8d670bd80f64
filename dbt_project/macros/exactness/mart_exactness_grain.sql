{#- The bucket width of an exactness check: `grain` when given, else 'day' for a time column
    named `day` and 'hour' otherwise. -#}
{% macro mart_exactness_grain(grain, time_column) %}
    {%- set grain = grain or ('day' if time_column == 'day' else 'hour') -%}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart exactness: grain must be 'hour' or 'day', got " ~ grain) }}
    {%- endif -%}
    {{ return(grain) }}
{% endmacro %}

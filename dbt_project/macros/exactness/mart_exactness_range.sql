{#- `column` in [start, end) (epoch seconds), as literal UTC timestamps. -#}
{% macro mart_exactness_range(column, start, end) %}
    {{- return('(' ~ column ~ ' >= ' ~ mart_exactness_timestamp(start) ~ ' and ' ~ column
        ~ ' < ' ~ mart_exactness_timestamp(end) ~ ')') -}}
{% endmacro %}

{#- var mart_exactness_scope, checked: 'build' (the buckets the last run rebuilt, and a sample)
    or 'full' (the whole history, as the daily maintenance job runs it). -#}
{% macro mart_exactness_scope() %}
    {%- set scope = var('mart_exactness_scope', 'build') -%}
    {%- if scope not in ('build', 'full') -%}
        {{ exceptions.raise_compiler_error(
            "var mart_exactness_scope must be 'build' (the buckets the last run rebuilt, and a "
            ~ "sample) or 'full' (the whole history), got " ~ scope) }}
    {%- endif -%}
    {{ return(scope) }}
{% endmacro %}

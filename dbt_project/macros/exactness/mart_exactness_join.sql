{#-
    Restricts rows to the buckets of this build's exactness check: an inner join of the CTE
    `exactness_buckets` (mart_exactness_buckets) on ranges of `column`, which PostgreSQL runs as
    one index range scan per bucket, so the recomputation reads only the rows of the buckets
    compared. Put it right after the raw table (or the mart) in the from clause. Renders
    nothing with var mart_exactness_scope 'full' (every row).
-#}
{% macro mart_exactness_join(column, grain) %}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart_exactness_join: grain must be 'hour' or 'day', got " ~ grain) }}
    {%- endif -%}
    {%- if mart_exactness_scope() != 'full' -%}
        inner join exactness_buckets as exactness_checked
            on
                {{ column }} >= exactness_checked.exactness_bucket
                and {{ column }} < exactness_checked.exactness_bucket + interval '1 {{ grain }}'
    {%- endif -%}
{% endmacro %}

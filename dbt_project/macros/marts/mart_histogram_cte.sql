{#- Histogram of an integer column: one jsonb {"bucket index": count} per group (the body of a
    CTE; buckets from mart_hist_bucket(), bootstrap_sql/011). -#}
{% macro mart_histogram_cte(relation, group_columns, value_column) %}
    {%- if group_columns is string or group_columns is not iterable or not group_columns -%}
        {{ exceptions.raise_compiler_error(
            'mart_histogram_cte: group_columns must be a non-empty list of columns, got '
            ~ group_columns) }}
    {%- endif -%}
    {%- do assert_identifier(value_column, 'mart_histogram_cte', 'value_column') -%}
    select
        {{ group_columns | join(', ') }},
        jsonb_object_agg(bucket_index, bucket_count) as histogram
    from (
        select
            {{ group_columns | join(', ') }},
            {{ var('raw_schema', 'public') }}.mart_hist_bucket({{ value_column }}) as bucket_index,
            count(*) as bucket_count
        from {{ relation }}
        where {{ value_column }} is not null
        group by {{ group_columns | join(', ') }}, bucket_index
    ) as bucket_counts
    group by {{ group_columns | join(', ') }}
{% endmacro %}

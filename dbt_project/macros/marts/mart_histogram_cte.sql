{#- Histogram of an integer column: one jsonb {"bucket index": count} per group (the body of a
    CTE; buckets from mart_hist_bucket(), bootstrap_sql/011), and with `packed` the same
    histogram packed in one numeric (bootstrap_sql/105). -#}
{% macro mart_histogram_cte(relation, group_columns, value_column, packed=false) %}
    {%- set columns = assert_identifiers(group_columns, 'mart_histogram_cte', 'group_columns')
        | join(', ') -%}
    {%- do assert_identifier(value_column, 'mart_histogram_cte', 'value_column') -%}
    {%- if packed is not boolean -%}
        {{ exceptions.raise_compiler_error(
            'mart_histogram_cte: packed must be true or false, got ' ~ packed) }}
    {%- endif -%}
    select
        {{ columns }},
        jsonb_object_agg(bucket_index, bucket_count) as histogram{% if packed %},
        -- mart_hist_pack(indexes, counts) written set-wise (no call per group): each bucket's
        -- 16 digits, highest first, the empty buckets below it as zeros, then the exponent of
        -- the lowest bucket's field
        (
            string_agg(
                lpad(bucket_count::text, 16, '0') || repeat('0', 16 * (coalesce(step, 1) - 1)),
                '' order by bucket_index desc
            )
            || 'e' || (16 * (min(bucket_index) + 1665))
        )::numeric as histogram_packed{% endif %}
    from (
        select
            {{ columns }},
            bucket_index,
            bucket_count{% if packed %},
            -- how many buckets above the group's previous non-empty one
            bucket_index - lag(bucket_index) over (
                partition by {{ columns }} order by bucket_index
            ) as step{% endif %}
        from (
            select
                {{ columns }},
                {{ var('raw_schema', 'public') }}.mart_hist_bucket({{ value_column }}) as bucket_index,
                count(*) as bucket_count
            from {{ relation }}
            where {{ value_column }} is not null
            group by {{ columns }}, bucket_index
        ) as bucket_counts
    ) as bucket_steps
    group by {{ columns }}
{% endmacro %}

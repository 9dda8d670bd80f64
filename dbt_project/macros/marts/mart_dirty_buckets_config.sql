{#- The config every incremental mart shares, for `config(..., **mart_dirty_buckets_config(...))`:
    the dirty_buckets strategy deleting the rebuilt buckets (pg_temp.mart_rebuild) by the mart's
    time column, and the full_refresh guard (mart_full_refresh). -#}
{% macro mart_dirty_buckets_config(time_column) %}
    {%- do assert_identifier(time_column, 'mart_dirty_buckets_config', 'time_column') -%}
    {{ return({
        'incremental_strategy': 'dirty_buckets',
        'incremental_predicates': [
            'dbt_internal_dest.' ~ time_column
            ~ ' in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)'
        ],
        'full_refresh': mart_full_refresh(),
    }) }}
{% endmacro %}

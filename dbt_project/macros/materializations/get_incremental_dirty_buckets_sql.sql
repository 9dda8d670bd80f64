{#- Custom incremental strategy `dirty_buckets`: delete the rebuilt buckets (selected by the
    model's incremental_predicates on dbt_internal_dest), insert their recomputed rows. -#}
{% macro get_incremental_dirty_buckets_sql(arg_dict) %}
    {%- if not arg_dict['incremental_predicates'] -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'dirty_buckets' needs incremental_predicates selecting the "
            ~ "rebuilt buckets of dbt_internal_dest") }}
    {%- endif -%}
    {%- set predicates = arg_dict['incremental_predicates'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    -- the rebuilt buckets go, then their recomputed rows come back
    delete from {{ arg_dict['target_relation'] }} as dbt_internal_dest
    where {{ predicates | join(' and ') }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }};
{% endmacro %}

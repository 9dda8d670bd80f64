{#- Pre-hook step after mart_claim_dirty: on an incremental run, the buckets of this mart's
    rows matching `condition` (on alias `stale`) are rebuilt too; for values computed from
    configuration, so a changed setting reaches every bucket still within raw retention. -#}
{% macro mart_rebuild_where(time_column, condition, raw_source) %}
    {%- do assert_identifier(time_column, 'mart_rebuild_where', 'time_column') -%}
    {%- do assert_identifier(raw_source, 'mart_rebuild_where', 'raw_source') -%}
    {%- if condition is not string or not condition.strip() -%}
        {{ exceptions.raise_compiler_error(
            'mart_rebuild_where: condition must be a SQL condition on alias stale, got '
            ~ condition) }}
    {%- endif -%}
    {%- if is_incremental() -%}
        {%- set raw_schema = var('raw_schema', 'public') -%}
        -- buckets whose rows no longer agree with what they were computed from
        insert into pg_temp.mart_rebuild (bucket)
        select distinct stale.{{ time_column }}
        from {{ this }} as stale
        where
            ({{ condition }})
            and stale.{{ time_column }} >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}')
            and stale.{{ time_column }} not in (
                select already.bucket from pg_temp.mart_rebuild as already
            );
        {{ mart_rebuild_analyze() }}
    {%- else -%}
        -- first build: every bucket is computed
        select 1;
    {%- endif -%}
{% endmacro %}

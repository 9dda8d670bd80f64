{#-
    Post-hook of every incremental mart: marks the buckets rebuilt here (all of the mart's on a
    full build) for the marts built on this one (mart_sources), deletes exactly the ledger
    entries the pre-hook claimed (by id: entries committed meanwhile stay for the next run), and
    registers the mart's own retention policy. In the model's transaction.
-#}
{% macro mart_release_dirty(time_column, retention_days) %}
    {%- do assert_identifier(time_column, 'mart_release_dirty', 'time_column') -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- marts built on this one (mart_sources) get the hours rebuilt here, or all on a full build
    insert into {{ raw_schema }}.mart_dirty_buckets (mart, bucket)
    select downstream.mart, changed.bucket
    from (
        select rebuilt.bucket
        from pg_temp.mart_rebuild as rebuilt
        where (select run_mode.is_incremental from pg_temp.mart_run_mode as run_mode)
        union
        select distinct built.{{ time_column }} as bucket
        from {{ this }} as built
        where not (select run_mode.is_incremental from pg_temp.mart_run_mode as run_mode)
    ) as changed
    cross join {{ raw_schema }}.mart_sources as downstream
    where downstream.source_table = '{{ this.identifier }}';
    delete from {{ raw_schema }}.mart_dirty_buckets
    where id in (select claimed.id from pg_temp.mart_claimed as claimed);
    {{ mart_register_retention_policy(time_column, retention_days) }}
{% endmacro %}

{#-
    Post-hook of every incremental mart: marks the buckets rebuilt here (on a full build also
    all of the mart's) for the marts built on this one (mart_sources), records them as this mart's
    last rebuilt buckets (mart_last_rebuilt, what the exactness tests of the build compare),
    deletes exactly the ledger entries the pre-hook claimed (by id: entries committed meanwhile
    stay for the next run), and registers the mart's own retention policy. In the model's
    transaction.
-#}
{% macro mart_release_dirty(time_column, retention_days) %}
    {%- do assert_identifier(time_column, 'mart_release_dirty', 'time_column') -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- the buckets rebuilt here (UTC hours or days), and on a full build every bucket of the
    -- mart as well: the claimed ones stay, since a bucket whose rows were all deleted has none
    -- in the built table, yet the marts built on this one must rebuild it
    create temporary table mart_rebuilt on commit drop as
    select rebuilt.bucket
    from pg_temp.mart_rebuild as rebuilt
    union
    select date_trunc('hour', built.{{ time_column }}, 'UTC') as bucket
    from {{ this }} as built
    where not (select run_mode.is_incremental from pg_temp.mart_run_mode as run_mode);
    -- marts built on this one (mart_sources) get them
    insert into {{ raw_schema }}.mart_dirty_buckets (mart, bucket)
    select downstream.mart, changed.bucket
    from pg_temp.mart_rebuilt as changed
    cross join {{ raw_schema }}.mart_sources as downstream
    where downstream.source_table = '{{ this.identifier }}';
    -- what the exactness tests of this build compare (bootstrap_sql/075)
    delete from {{ raw_schema }}.mart_last_rebuilt
    where mart = '{{ this.identifier }}';
    insert into {{ raw_schema }}.mart_last_rebuilt (mart, bucket, run_id)
    select '{{ this.identifier }}', changed.bucket, '{{ invocation_id }}'
    from pg_temp.mart_rebuilt as changed;
    delete from {{ raw_schema }}.mart_dirty_buckets
    where id in (select claimed.id from pg_temp.mart_claimed as claimed);
    {{ mart_register_retention_policy(time_column, retention_days) }}
{% endmacro %}

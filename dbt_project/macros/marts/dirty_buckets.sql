{#
  Incremental marts kept exact by the late-data ledger (bootstrap_sql/010, docs/dbt.md).

  pre-hook  mart_claim_dirty(): locks, then snapshots this mart's ledger entries
            (pg_temp.mart_claimed) and the buckets to rebuild (pg_temp.mart_rebuild);
  model     on an incremental run reads only the raw rows of pg_temp.mart_rebuild;
  strategy  dirty_buckets: deletes those buckets from the mart, inserts the recomputed rows;
  post-hook mart_release_dirty(): marks the rebuilt hours for marts built on this one, deletes
            the entries of the snapshot (by id) and registers the mart's retention policy.
  All of it runs in the model's one transaction: a failed run leaves the ledger untouched.
#}

{% macro mart_claim_dirty(raw_source, grain='hour') %}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error("mart_claim_dirty: grain must be 'hour' or 'day'") }}
    {%- endif -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- retention takes this key exclusively; marts share it, so they never block each other
    select pg_advisory_xact_lock_shared(hashtext('mcp_analytics'), hashtext('warehouse'));
    -- two runs of one mart at once would both insert the same buckets
    select pg_advisory_xact_lock(hashtext('mcp_analytics.mart'), hashtext('{{ this.identifier }}'));
    create temporary table mart_claimed on commit drop as
    select id, bucket
    from {{ raw_schema }}.mart_dirty_buckets
    where mart = '{{ this.identifier }}';
    create temporary table mart_rebuild on commit drop as
    select distinct date_trunc('{{ grain }}', bucket, 'UTC') as bucket
    from pg_temp.mart_claimed
    where date_trunc('{{ grain }}', bucket, 'UTC') >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}');
    analyze pg_temp.mart_rebuild;
    create temporary table mart_run_mode on commit drop as
    select {{ 'true' if is_incremental() else 'false' }} as is_incremental;
{% endmacro %}


{% macro mart_release_dirty(time_column, retention_days) %}
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


{#- The mart's own retention is a policy row like the raw tables' (applied by apply_retention;
    time_column comes with bootstrap_sql/040). An existing row (edited by an operator) is kept. -#}
{% macro mart_register_retention_policy(time_column, retention_days) %}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    insert into {{ raw_schema }}.data_retention_policies
        (table_name, retention_days, archive_before_delete, time_column)
    values (
        '{{ this.schema }}.{{ this.identifier }}', {{ retention_days | int }}, false,
        '{{ time_column }}'
    )
    on conflict (table_name) do nothing;
{% endmacro %}


{#- Custom incremental strategy: delete the rebuilt buckets, insert their new rows. -#}
{% macro get_incremental_dirty_buckets_sql(arg_dict) %}
    {%- set predicates = arg_dict['incremental_predicates'] -%}
    {%- if not predicates -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'dirty_buckets' needs incremental_predicates selecting the "
            ~ "rebuilt buckets of dbt_internal_dest") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }} as dbt_internal_dest
    where {{ predicates | join(' and ') }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }};
{% endmacro %}


{#- --full-refresh would rebuild from raw rows only and lose the history retention removed. -#}
{% macro mart_full_refresh() %}
    {{ return(none if var('mart_allow_full_refresh', false) else false) }}
{% endmacro %}


{#- Histogram of an integer column: one jsonb {"bucket index": count} per group. -#}
{% macro mart_histogram_cte(relation, group_columns, value_column) %}
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


{#- Bounds of the buckets being rebuilt, as a sargable range on the event time: with it the
    planner prunes partitions at run time and range-scans the "timestamp" index instead of
    scanning every row against the join (its estimate of the join alone is blind).
    `truncate_to` widens hour buckets to whole days (performance_metrics_summary's '1d'). -#}
{% macro mart_rebuild_bounds(column, grain='hour', truncate_to=none) %}
    {%- set lowest = "(select min(bounds.bucket) from pg_temp.mart_rebuild as bounds)" -%}
    {%- set highest = "(select max(bounds.bucket) from pg_temp.mart_rebuild as bounds)" -%}
    {%- if truncate_to -%}
        {%- set lowest = "date_trunc('" ~ truncate_to ~ "', " ~ lowest ~ ", 'UTC')" -%}
        {%- set highest = "date_trunc('" ~ truncate_to ~ "', " ~ highest ~ ", 'UTC')" -%}
        {%- set grain = truncate_to -%}
    {%- endif -%}
    {{ column }} >= {{ lowest }}
    and {{ column }} < {{ highest }} + interval '1 {{ grain }}'
{%- endmacro %}

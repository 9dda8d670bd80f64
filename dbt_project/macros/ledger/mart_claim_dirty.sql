{#-
    Pre-hook of every incremental mart (docs/dbt.md, "Late data"): takes the locks, then
    snapshots this mart's ledger entries into pg_temp.mart_claimed and the buckets to rebuild
    (truncated to `grain`, none older than the raw retention horizon of `raw_source`) into
    pg_temp.mart_rebuild, whose bounds mart_rebuild_analyze publishes for the planner; turns
    nested loops off for the model's transaction unless the model's meta says
    needs_nested_loops: true. Runs in the model's transaction, so a failed run claims nothing.
-#}
{% macro mart_claim_dirty(raw_source, grain='hour') %}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error("mart_claim_dirty: grain must be 'hour' or 'day'") }}
    {%- endif -%}
    {%- do assert_identifier(raw_source, 'mart_claim_dirty', 'raw_source') -%}
    {%- if execute and not model.config.meta.get('ledger_sources') -%}
        {{ exceptions.raise_compiler_error(
            'mart_claim_dirty: ' ~ this.identifier ~ " declares no meta.ledger_sources, so no "
            ~ "ledger entry would ever be its to claim; add e.g. meta={'ledger_sources': "
            ~ "['tool_usage_logs']} to its config") }}
    {%- endif -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- the warehouse lock (bootstrap_sql/063): retention takes it exclusively; marts share it,
    -- so they never block each other; a table lock only admins can take (no advisory key)
    select {{ raw_schema }}.warehouse_lock(true);
    -- two runs of one mart at once would both insert the same buckets
    select {{ raw_schema }}.mart_lock('{{ this.identifier }}');
{%- if not (execute and (model.config.get('meta') or {}).get('needs_nested_loops', false)) %}
    -- a mart is set-wise aggregation over whole buckets, where a nested loop is never the
    -- right join, but the one a misestimate picks (joins of aggregates on several keys come
    -- out at one row): hash and merge joins stay linear whatever the estimates. A model whose
    -- plan cannot avoid one (a lateral function scan per row: before PostgreSQL 18 a disabled
    -- node costs 1e10, which distorts the rest of the plan) says meta.needs_nested_loops.
    select set_config('enable_nestloop', 'off', true);
{%- endif %}
    create temporary table mart_claimed on commit drop as
    select id, bucket
    from {{ raw_schema }}.mart_dirty_buckets
    where mart = '{{ this.identifier }}';
    create temporary table mart_rebuild on commit drop as
    select distinct date_trunc('{{ grain }}', bucket, 'UTC') as bucket
    from pg_temp.mart_claimed
    where date_trunc('{{ grain }}', bucket, 'UTC') >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}');
    {{ mart_rebuild_analyze() }}
    create temporary table mart_run_mode on commit drop as
    select {{ 'true' if is_incremental() else 'false' }} as is_incremental;
{% endmacro %}

{#- The config every incremental mart shares, for `config(..., **mart_dirty_buckets_config(...))`:
    the dirty_buckets strategy deleting the rebuilt buckets (pg_temp.mart_rebuild) by the mart's
    time column, and the full_refresh guard (mart_full_refresh). With `raw_source`, also the
    ledger: meta.ledger_sources (default [raw_source]), the pre-hook claiming the mart's dirty
    buckets at the time column's grain (mart_claim_dirty) and the post-hook releasing them and
    registering `retention_days` (mart_release_dirty, which checks it is a whole number of
    days); a mart with more pre-hook steps writes its own hooks and meta. -#}
{% macro mart_dirty_buckets_config(
    time_column, raw_source=none, retention_days=none, ledger_sources=none
) %}
    {%- do assert_identifier(time_column, 'mart_dirty_buckets_config', 'time_column') -%}
    {%- set sources = ledger_sources if ledger_sources is not none else [raw_source] -%}
    {%- if raw_source is none and (retention_days is not none or ledger_sources is not none) -%}
        {{ exceptions.raise_compiler_error(
            'mart_dirty_buckets_config: retention_days and ledger_sources go with raw_source') }}
    {%- elif raw_source is not none
            and (time_column not in ('hour', 'day') or retention_days is none) -%}
        {{ exceptions.raise_compiler_error(
            "mart_dirty_buckets_config: with raw_source, time_column must be 'hour' or 'day' (the "
            ~ 'grain its buckets are claimed at) and retention_days the days the mart keeps its '
            ~ 'rows; got ' ~ time_column ~ ', ' ~ retention_days) }}
    {%- endif -%}
    {%- set predicate = 'dbt_internal_dest.' ~ time_column
        ~ ' in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)' -%}
    {%- set mart_config = {
        'incremental_strategy': 'dirty_buckets', 'incremental_predicates': [predicate],
        'full_refresh': mart_full_refresh()} -%}
    {%- if raw_source is not none -%}
        {%- do assert_identifier(raw_source, 'mart_dirty_buckets_config', 'raw_source') -%}
        {%- set claim = "mart_claim_dirty('" ~ raw_source ~ "', grain='" ~ time_column ~ "')" -%}
        {%- set release = "mart_release_dirty('" ~ time_column ~ "', retention_days="
            ~ retention_days ~ ")" -%}
        {%- do mart_config.update({
            'meta': {'ledger_sources': assert_identifiers(
                sources, 'mart_dirty_buckets_config', 'ledger_sources')},
            'pre_hook': '{{ ' ~ claim ~ ' }}', 'post_hook': '{{ ' ~ release ~ ' }}'}) -%}
    {%- endif -%}
    {{ return(mart_config) }}
{% endmacro %}

{#
  Exactness check used by the singular tests in tests/marts/: the mart's rows equal a
  recomputation from the raw rows (except all, both ways) over a recent window
  (var mart_exactness_window_hours; 0 = the whole history). Buckets older than the raw
  retention horizon (frozen history) and days with ledger entries still pending (data that
  arrived after the mart's last run) are left out.
#}
{% macro mart_exactness_filter(time_column, raw_source, pending_marts) %}
    {%- set hours = var('mart_exactness_window_hours', 48) | int -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    {{ time_column }} >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}')
    {%- if hours > 0 %}
        and {{ time_column }} >= date_trunc('day', now() - interval '{{ hours }} hours', 'UTC')
    {%- endif %}
        and date_trunc('day', {{ time_column }}, 'UTC') not in (
            select date_trunc('day', pending.bucket, 'UTC')
            from {{ raw_schema }}.mart_dirty_buckets as pending
            where pending.mart in ('{{ pending_marts | join("', '") }}')
        )
{% endmacro %}


{% macro mart_matches_reference(mart, columns, reference_sql, time_column, raw_source, pending_marts) %}
    {%- set column_list = columns | join(', ') -%}
    with mart_rows as (
        select {{ column_list }}
        from {{ mart }}
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts) }}
    ),

    reference_rows as (
        select {{ column_list }}
        from ({{ reference_sql }}) as reference
        where {{ mart_exactness_filter(time_column, raw_source, pending_marts) }}
    ),

    only_in_mart as (
        select {{ column_list }} from mart_rows
        except all
        select {{ column_list }} from reference_rows
    ),

    only_in_reference as (
        select {{ column_list }} from reference_rows
        except all
        select {{ column_list }} from mart_rows
    )

    select 'only in the mart' as side, {{ column_list }} from only_in_mart
    union all
    select 'only in the recomputation' as side, {{ column_list }} from only_in_reference
{% endmacro %}

{#-
    The rows an exactness check compares (a where condition on `time_column`): newer than the
    raw retention horizon of `raw_source`, inside var mart_exactness_window_hours (0 = the whole
    history), and not on a day with ledger entries still pending for `pending_marts` (data that
    arrived after the mart's last run).
-#}
{% macro mart_exactness_filter(time_column, raw_source, pending_marts) %}
    {%- set hours = var('mart_exactness_window_hours', 48) -%}
    {%- if hours is not number or hours is boolean or hours != hours | int or hours < 0 -%}
        {{ exceptions.raise_compiler_error(
            'mart_exactness_filter: var mart_exactness_window_hours must be a whole number of '
            ~ 'hours (0 = the whole history), got ' ~ hours) }}
    {%- endif -%}
    {%- set hours = hours | int -%}
    {%- if pending_marts is string or pending_marts is not iterable or not pending_marts -%}
        {{ exceptions.raise_compiler_error(
            'mart_exactness_filter: pending_marts must be a non-empty list of marts, got '
            ~ pending_marts) }}
    {%- endif -%}
    {%- do assert_identifier(time_column, 'mart_exactness_filter', 'time_column') -%}
    {%- do assert_identifier(raw_source, 'mart_exactness_filter', 'raw_source') -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- newer than the raw retention horizon (older buckets are frozen history)
    {{ time_column }} >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}')
    -- inside the window (0 = the whole history; the planner folds the constant)
    and (
        {{ hours }} = 0
        or {{ time_column }} >= date_trunc('day', now() - interval '{{ hours }} hours', 'UTC')
    )
    -- not on a day the ledger still has pending for these marts
    and date_trunc('day', {{ time_column }}, 'UTC') not in (
        select date_trunc('day', pending.bucket, 'UTC')
        from {{ raw_schema }}.mart_dirty_buckets as pending
        where pending.mart in ('{{ pending_marts | join("', '") }}')
    )
{% endmacro %}

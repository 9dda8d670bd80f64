{#-
    The rows an exactness check compares (a where condition on `time_column`): newer than the
    raw retention horizon of `raw_source`, not on a day with ledger entries still pending for
    `pending_marts` (data that arrived after the mart's last run), and, unless var
    mart_exactness_scope is 'full', in the buckets of the CTE `exactness_buckets`
    (mart_exactness_buckets: what the mart's last run rebuilt, and a sample).
-#}
{% macro mart_exactness_filter(time_column, raw_source, pending_marts, grain=none) %}
    {%- if pending_marts is string or pending_marts is not iterable or not pending_marts -%}
        {{ exceptions.raise_compiler_error(
            'mart_exactness_filter: pending_marts must be a non-empty list of marts, got '
            ~ pending_marts) }}
    {%- endif -%}
    {%- do assert_identifier(time_column, 'mart_exactness_filter', 'time_column') -%}
    {%- do assert_identifier(raw_source, 'mart_exactness_filter', 'raw_source') -%}
    {%- set grain = mart_exactness_grain(grain, time_column) -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    -- newer than the raw retention horizon (older buckets are frozen history)
    {{ time_column }} >= {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}')
    -- not on a day the ledger still has pending for these marts
    and date_trunc('day', {{ time_column }}, 'UTC') not in (
        select date_trunc('day', pending.bucket, 'UTC')
        from {{ raw_schema }}.mart_dirty_buckets as pending
        where pending.mart in ('{{ pending_marts | join("', '") }}')
    )
    {%- if mart_exactness_scope() != 'full' %}
        -- in the buckets this build checks
        and date_trunc('{{ grain }}', {{ time_column }}, 'UTC') in (
            select checked.exactness_bucket from exactness_buckets as checked
        )
    {%- endif %}
{% endmacro %}

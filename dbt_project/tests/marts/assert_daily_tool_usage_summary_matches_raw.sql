{{ config(meta={'dagster': {'ref': {'name': 'daily_tool_usage_summary'}}}) }}

-- Exact columns only; the percentiles are checked against their error bound in
-- assert_daily_tool_usage_percentiles_within_bound.
{% set checked = mart_exactness_checked(
    ref('daily_tool_usage_summary'), 'day', 'tool_usage_logs',
    ['hourly_tool_usage_summary', 'daily_tool_usage_summary']) %}
{% set reference = mart_reference_tool_usage(checked, percentiles=false) %}
{{ mart_matches_reference(
    ref('daily_tool_usage_summary'), mart_reference_columns(reference), reference, checked) }}

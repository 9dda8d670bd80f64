{{ config(meta={'dagster': {'ref': {'name': 'hourly_tool_usage_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('hourly_tool_usage_summary'), 'hour', 'tool_usage_logs', ['hourly_tool_usage_summary']) %}
{% set reference = mart_reference_tool_usage(checked) %}
{{ mart_matches_reference(
    ref('hourly_tool_usage_summary'), mart_reference_columns(reference), reference, checked) }}

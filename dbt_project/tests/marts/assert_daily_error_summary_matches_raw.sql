{{ config(meta={'dagster': {'ref': {'name': 'daily_error_summary'}}}) }}

-- The seed's view over what the check compares (its definition: bootstrap_sql/009)
{% set checked = mart_exactness_checked(
    ref('daily_error_summary'), 'day', 'error_logs', ['daily_error_summary']) %}
{% set reference = mart_seed_view_reference('daily_error_summary', checked) %}
{{ mart_matches_reference(
    ref('daily_error_summary'), mart_reference_columns(reference), reference, checked) }}

{{ config(meta={'dagster': {'ref': {'name': 'performance_metrics_summary'}}}) }}

-- The seed's view over what the check compares, in whole days: a '1d' sample's bucket is its
-- day (its definition: bootstrap_sql/009)
{% set checked = mart_exactness_checked(
    ref('performance_metrics_summary'), 'time_bucket', 'performance_metrics',
    ['performance_metrics_summary'], grain='day') %}
{% set reference = mart_seed_view_reference('performance_metrics_summary', checked) %}
{{ mart_matches_reference(
    ref('performance_metrics_summary'), mart_reference_columns(reference), reference, checked) }}

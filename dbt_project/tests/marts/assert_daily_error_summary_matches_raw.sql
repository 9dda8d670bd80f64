{{ config(meta={'dagster': {'ref': {'name': 'daily_error_summary'}}}) }}

{% set checked = mart_exactness_checked(
    ref('daily_error_summary'), 'day', 'error_logs', ['daily_error_summary']) %}
{% set reference %}
    select
        date_trunc('day', "timestamp", 'UTC') as day,
        level,
        category,
        count(*) as error_count,
        count(distinct user_id) as affected_users,
        count(distinct session_id) as affected_sessions,
        count(*) filter (where resolved = true) as resolved_count,
        count(*) filter (where resolved = false) as unresolved_count,
        avg(severity)::numeric(3, 2) as avg_severity,
        string_agg(distinct error_code, ', ') as error_codes,
        min("timestamp") as first_error,
        max("timestamp") as last_error
    from {{ source('mcp', 'error_logs') }}
    where "timestamp" is not null and {{ mart_exactness_where('"timestamp"', checked) }}
    group by 1, 2, 3
{% endset %}

{{ mart_matches_reference(
    ref('daily_error_summary'),
    ['day', 'level', 'category', 'error_count', 'affected_users', 'affected_sessions',
     'resolved_count', 'unresolved_count', 'avg_severity', 'error_codes', 'first_error',
     'last_error'],
    reference, checked) }}

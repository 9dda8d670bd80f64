{{
    config(
        indexes=[
            {'columns': ['day', 'level', 'category']},
        ],
        **mart_dirty_buckets_config('day', 'error_logs', retention_days=1825)
    )
}}

-- The seed's daily_error_summary over the whole history (days in UTC). An update of an error
-- (resolved = true) marks its day dirty, so resolved_count follows.

select
    date_trunc('day', error_rows.occurred_at, 'UTC') as day,
    error_rows.level,
    error_rows.category,
    count(*) as error_count,
    count(distinct error_rows.user_id) as affected_users,
    count(distinct error_rows.session_id) as affected_sessions,
    count(*) filter (where error_rows.is_resolved = true) as resolved_count,
    count(*) filter (where error_rows.is_resolved = false) as unresolved_count,
    avg(error_rows.severity)::numeric(3, 2) as avg_severity,
    string_agg(distinct error_rows.error_code, ', ') as error_codes,
    min(error_rows.occurred_at) as first_error,
    max(error_rows.occurred_at) as last_error,
    now() as refreshed_at
{{ mart_rows_to_rebuild(ref('stg_mcp__error_logs'), 'error_rows', 'occurred_at', 'day') }}
group by date_trunc('day', error_rows.occurred_at, 'UTC'), error_rows.level, error_rows.category

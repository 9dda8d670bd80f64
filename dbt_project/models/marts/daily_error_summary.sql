{{
    config(
        incremental_strategy='dirty_buckets',
        incremental_predicates=[
            "dbt_internal_dest.day in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)"
        ],
        full_refresh=mart_full_refresh(),
        meta={'ledger_sources': ['error_logs']},
        indexes=[
            {'columns': ['day', 'level', 'category']},
        ],
        pre_hook="{{ mart_claim_dirty('error_logs', grain='day') }}",
        post_hook="{{ mart_release_dirty('day', retention_days=1825) }}",
    )
}}

-- The seed's daily_error_summary over the whole history (days in UTC). An update of an error
-- (resolved = true) marks its day dirty, so resolved_count follows.

with

errors as (
    select
        date_trunc('day', error_rows.occurred_at, 'UTC') as day,
        error_rows.level,
        error_rows.category,
        error_rows.user_id,
        error_rows.session_id,
        error_rows.is_resolved,
        error_rows.severity,
        error_rows.error_code,
        error_rows.occurred_at
    {{ mart_rows_to_rebuild(ref('stg_mcp__error_logs'), 'error_rows', 'occurred_at', 'day') }}
),

final as (
    select
        day,
        level,
        category,
        count(*) as error_count,
        count(distinct user_id) as affected_users,
        count(distinct session_id) as affected_sessions,
        count(*) filter (where is_resolved = true) as resolved_count,
        count(*) filter (where is_resolved = false) as unresolved_count,
        avg(severity)::numeric(3, 2) as avg_severity,
        string_agg(distinct error_code, ', ') as error_codes,
        min(occurred_at) as first_error,
        max(occurred_at) as last_error,
        now() as refreshed_at
    from errors
    group by day, level, category
)

select
    day,
    level,
    category,
    error_count,
    affected_users,
    affected_sessions,
    resolved_count,
    unresolved_count,
    avg_severity,
    error_codes,
    first_error,
    last_error,
    refreshed_at
from final

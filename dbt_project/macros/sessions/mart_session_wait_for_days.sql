{#-
    Pre-hook step of analytics.mcp_sessions, after mart_claim_dirty(grain='hour') and before
    mart_session_rebuild_days: int_session_hours marks its rebuilt hours for both
    int_session_days and mcp_sessions, and mcp_sessions merges a touched session from its daily
    rows. An hour whose day int_session_days has not merged yet (a ledger entry of its own is
    still there: it has not run since, or runs at this moment) would merge a stale day, so that
    hour is let go: dropped from pg_temp.mart_claimed and pg_temp.mart_rebuild, its ledger
    entry stays for the next run of mcp_sessions, after int_session_days has merged the day.
    In a build of both, dbt runs int_session_days first, so nothing waits.
-#}
{% macro mart_session_wait_for_days() %}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    {%- set days = ref('int_session_days') -%}
    delete from pg_temp.mart_claimed as claimed
    where exists (
        select 1
        from {{ raw_schema }}.mart_dirty_buckets as pending
        where
            pending.mart = '{{ days.identifier }}'
            and date_trunc('day', pending.bucket, 'UTC') = date_trunc('day', claimed.bucket, 'UTC')
    );
    delete from pg_temp.mart_rebuild as rebuilt
    where not exists (
        select 1
        from pg_temp.mart_claimed as claimed
        where date_trunc('hour', claimed.bucket, 'UTC') = rebuilt.bucket
    );
    {{ mart_rebuild_analyze() }}
{% endmacro %}

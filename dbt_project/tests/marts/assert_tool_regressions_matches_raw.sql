{{ config(meta={'dagster': {'ref': {'name': 'tool_regressions'}}}) }}

-- The regressions recomputed from the raw rows (not from daily_tool_version_summary): versions
-- ordered by their first raw call, each side's counts and histogram straight from its rows, the
-- same rule and thresholds, for the mart's as_of day; compared both ways. Servers with calls
-- older than the raw retention horizon are left out (their history lives in the marts only).
-- A build's check (var mart_exactness_scope 'build') compares the week-over-week rows only,
-- which read the last 14 days of raw rows; the release rows read each version's whole life,
-- so they are compared by the daily whole-history check (scope 'full').
{% set raw_schema = var('raw_schema', 'public') %}
{% set whole_history = 'true' if mart_exactness_scope() == 'full' else 'false' %}
{#- the two weeks compared, as a literal (partitions pruned, the range's size known) -#}
{% set two_weeks_start = mart_exactness_time_literal(
    "select coalesce(max(built.as_of), date_trunc('day', now(), 'UTC')) - interval '312 hours' from "
    ~ ref('tool_regressions') ~ " as built") %}
{% set columns = [
    'comparison', 'bcp_name', 'tool_name', 'metric', 'version', 'previous_version',
    'before_value', 'after_value', 'ratio', 'p_value', 'threshold', 'calls_before',
    'calls_after', 'errors_before', 'errors_after', 'before_first_called_at',
    'before_last_called_at', 'after_first_called_at', 'after_last_called_at'] %}

with

thresholds as (
    select
        {{ raw_schema }}.mcp_regression_threshold('alpha') as alpha,
        {{ raw_schema }}.mcp_regression_threshold('min_calls')::bigint as min_calls,
        {{ raw_schema }}.mcp_regression_threshold('max_p95_ratio') as max_p95_ratio,
        coalesce(
            (select max(built.as_of) from {{ ref('tool_regressions') }} as built),
            date_trunc('day', now(), 'UTC')
        ) as as_of
),

-- the servers (from the version summary, one row per day, tool and version: not a raw scan)
in_scope as (
    select distinct servers.bcp_name
    from {{ ref('daily_tool_version_summary') }} as servers
    where servers.bcp_name not in (
        select old_days.bcp_name
        from {{ ref('daily_tool_version_summary') }} as old_days
        where old_days.day < {{ raw_schema }}.mart_raw_horizon('tool_usage_logs')
    )
),

calls as (
    select
        raw_calls.bcp_name,
        raw_calls.tool_name,
        raw_calls.tool_version,
        raw_calls."timestamp",
        date_trunc('day', raw_calls."timestamp", 'UTC') as day,
        {{ raw_schema }}.mart_hist_bucket(raw_calls.duration_ms) as bucket_index,
        coalesce(
            raw_calls.error_class,
            {{ raw_schema }}.mcp_error_class(raw_calls.success, raw_calls.error_code)
        ) as error_class
    from {{ source('mcp', 'tool_usage_logs') }} as raw_calls
    where
        raw_calls."timestamp" is not null
        and raw_calls.bcp_name in (select in_scope.bcp_name from in_scope)
        and (
            {{ whole_history }}
            or raw_calls."timestamp" >= {{ two_weeks_start }}
        )
),

ranked_versions as (
    select
        calls.bcp_name,
        calls.tool_version,
        rank() over (
            partition by calls.bcp_name
            order by min(calls."timestamp") desc, calls.tool_version desc
        ) as recency
    from calls
    where calls.tool_version is not null
    group by calls.bcp_name, calls.tool_version
),

sided as (
    select
        'release' as comparison,
        newest.tool_version as version,
        previous.tool_version as previous_version,
        case when calls.tool_version = newest.tool_version then 'after' else 'before' end as side,
        calls.bcp_name,
        calls.tool_name,
        calls."timestamp",
        calls.bucket_index,
        calls.error_class
    from calls
    inner join ranked_versions as newest
        on calls.bcp_name = newest.bcp_name and newest.recency = 1
    inner join ranked_versions as previous
        on calls.bcp_name = previous.bcp_name and previous.recency = 2
    where {{ whole_history }} and calls.tool_version in (newest.tool_version, previous.tool_version)
    union all
    select
        'week_over_week' as comparison,
        null as version,
        null as previous_version,
        case
            when calls.day > thresholds.as_of - interval '168 hours' then 'after' else 'before'
        end as side,
        calls.bcp_name,
        calls.tool_name,
        calls."timestamp",
        calls.bucket_index,
        calls.error_class
    from calls
    cross join thresholds
    where calls.day between thresholds.as_of - interval '312 hours' and thresholds.as_of
),

bucket_calls as (
    select
        sided.comparison,
        sided.bcp_name,
        sided.tool_name,
        sided.side,
        sided.bucket_index,
        count(*) as calls_in_bucket
    from sided
    group by sided.comparison, sided.bcp_name, sided.tool_name, sided.side, sided.bucket_index
),

side_latency as (
    select
        bucket_calls.comparison,
        bucket_calls.bcp_name,
        bucket_calls.tool_name,
        bucket_calls.side,
        {{ raw_schema }}.mart_hist_quantile(
            jsonb_object_agg(bucket_calls.bucket_index, bucket_calls.calls_in_bucket), 0.95
        ) as p95_ms
    from bucket_calls
    group by bucket_calls.comparison, bucket_calls.bcp_name, bucket_calls.tool_name, bucket_calls.side
),

side_counts as (
    select
        sided.comparison,
        sided.bcp_name,
        sided.tool_name,
        sided.version,
        sided.previous_version,
        sided.side,
        count(*) as total_calls,
        count(*) filter (where sided.error_class <> 'caller_error') as eligible_calls,
        count(*) filter (
            where sided.error_class in ('tool_error', 'server_error', 'transport_error')
        ) as error_calls,
        min(sided."timestamp") as first_called_at,
        max(sided."timestamp") as last_called_at
    from sided
    group by
        sided.comparison,
        sided.bcp_name,
        sided.tool_name,
        sided.version,
        sided.previous_version,
        sided.side
),

side_figures as (
    select
        side_counts.comparison,
        side_counts.bcp_name,
        side_counts.tool_name,
        side_counts.version,
        side_counts.previous_version,
        side_counts.side,
        side_counts.total_calls,
        side_counts.eligible_calls,
        side_counts.error_calls,
        side_counts.first_called_at,
        side_counts.last_called_at,
        side_latency.p95_ms
    from side_counts
    inner join side_latency
        on {{ mart_join_keys(
            'side_counts', 'side_latency', ['comparison', 'bcp_name', 'tool_name', 'side']) }}
),

pairs as (
    select
        after_side.comparison,
        after_side.bcp_name,
        after_side.tool_name,
        after_side.version,
        after_side.previous_version,
        before_side.total_calls as before_total,
        after_side.total_calls as after_total,
        before_side.eligible_calls as before_eligible,
        after_side.eligible_calls as after_eligible,
        before_side.error_calls as before_errors,
        after_side.error_calls as after_errors,
        before_side.p95_ms as before_p95,
        after_side.p95_ms as after_p95,
        before_side.first_called_at as before_first,
        before_side.last_called_at as before_last,
        after_side.first_called_at as after_first,
        after_side.last_called_at as after_last,
        {{ raw_schema }}.mcp_two_proportion_p_value(
            before_side.error_calls,
            before_side.eligible_calls,
            after_side.error_calls,
            after_side.eligible_calls
        ) as p_value
    from side_figures as after_side
    inner join side_figures as before_side
        on
            {{ mart_join_keys('after_side', 'before_side', ['comparison', 'bcp_name', 'tool_name']) }}
            and before_side.side = 'before'
    where after_side.side = 'after'
),

reference_rows as (
    select
        pairs.comparison,
        pairs.bcp_name,
        pairs.tool_name,
        'error_rate' as metric,
        pairs.version,
        pairs.previous_version,
        round(pairs.before_errors::numeric / pairs.before_eligible, 6) as before_value,
        round(pairs.after_errors::numeric / pairs.after_eligible, 6) as after_value,
        round(
            (pairs.after_errors * pairs.before_eligible)::numeric
            / nullif(pairs.before_errors * pairs.after_eligible, 0),
            6
        ) as ratio,
        pairs.p_value,
        thresholds.alpha as threshold,
        pairs.before_eligible as calls_before,
        pairs.after_eligible as calls_after,
        pairs.before_errors as errors_before,
        pairs.after_errors as errors_after,
        pairs.before_first as before_first_called_at,
        pairs.before_last as before_last_called_at,
        pairs.after_first as after_first_called_at,
        pairs.after_last as after_last_called_at
    from pairs
    cross join thresholds
    where
        least(pairs.before_eligible, pairs.after_eligible) >= thresholds.min_calls
        and pairs.after_errors::numeric / pairs.after_eligible
        > pairs.before_errors::numeric / pairs.before_eligible
        and pairs.p_value < thresholds.alpha
    union all
    select
        pairs.comparison,
        pairs.bcp_name,
        pairs.tool_name,
        'p95_duration_ms' as metric,
        pairs.version,
        pairs.previous_version,
        round(pairs.before_p95::numeric, 3) as before_value,
        round(pairs.after_p95::numeric, 3) as after_value,
        round((pairs.after_p95 / pairs.before_p95)::numeric, 6) as ratio,
        null as p_value,
        thresholds.max_p95_ratio as threshold,
        pairs.before_total as calls_before,
        pairs.after_total as calls_after,
        null as errors_before,
        null as errors_after,
        pairs.before_first as before_first_called_at,
        pairs.before_last as before_last_called_at,
        pairs.after_first as after_first_called_at,
        pairs.after_last as after_last_called_at
    from pairs
    cross join thresholds
    where
        least(pairs.before_total, pairs.after_total) >= thresholds.min_calls
        and pairs.before_p95 > 0
        and pairs.after_p95 > thresholds.max_p95_ratio * pairs.before_p95
),

mart_rows as (
    select {{ columns | join(', ') }}
    from {{ ref('tool_regressions') }}
    where
        bcp_name in (select in_scope.bcp_name from in_scope)
        and ({{ whole_history }} or comparison = 'week_over_week')
),

{{ mart_differences(columns) }}

{{ config(meta={'dagster': {'ref': {'name': 'tool_regressions'}}}) }}

-- The regressions recomputed for the mart's as_of day and compared both ways: each version day's
-- counts and latency histogram, versions ordered by their first call, each side's sums, the same
-- rule and thresholds. The daily whole-history check (var mart_exactness_scope 'full') takes the
-- version days from the raw rows, leaving out servers with calls older than the raw retention
-- horizon (their history lives in the marts only). A build's check takes them from
-- daily_tool_version_summary, whose days each equal their raw rows (compared by the check of
-- the build that last rebuilt them, and every day by the whole-history check): composition
-- keeps the check exact at the cost of the small daily mart, not of 14 days (or a version's
-- whole life) of raw rows, so it compares the release rows too.
{% set raw_schema = var('raw_schema', 'public') %}
{% set whole_history = mart_exactness_scope() == 'full' %}
{% set version_summary = ref('daily_tool_version_summary') %}
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
    from {{ version_summary }} as servers
    {%- if whole_history %}
        where servers.bcp_name not in (
            select old_days.bcp_name
            from {{ version_summary }} as old_days
            where old_days.day < {{ raw_schema }}.mart_raw_horizon('tool_usage_logs')
        )
    {%- endif %}
),

-- calls by server, tool, version and latency bucket, with their first and last call (whose
-- UTC day is theirs): a row per raw call (whole history), or per day and bucket of the version
-- summary (a build)
version_buckets as (
    {% if whole_history -%}
        select
            calls.bcp_name,
            calls.tool_name,
            calls.tool_version,
            {{ raw_schema }}.mart_hist_bucket(calls.duration_ms) as bucket_index,
            1 as bucket_calls,
            (calls.error_class <> 'caller_error')::integer as eligible_calls,
            (calls.error_class in ('tool_error', 'server_error', 'transport_error'))::integer
                as error_calls,
            calls."timestamp" as first_called_at,
            calls."timestamp" as last_called_at
        from (
            {{ mart_reference_tool_calls(
                ['"timestamp"', 'bcp_name', 'tool_name', 'tool_version', 'duration_ms'],
                condition='raw_calls.bcp_name in (select in_scope.bcp_name from in_scope)') }}
        ) as calls
    {%- else %}
        -- the day's counts on its first bucket's row, zero on the others (so that sums add up)
        select
            version_days.bcp_name,
            version_days.tool_name,
            version_days.tool_version,
            histogram.bucket_index,
            histogram.bucket_calls,
            case
                when histogram.is_first
                    then version_days.total_calls - version_days.caller_error_calls
                else 0
            end as eligible_calls,
            case
                when histogram.is_first
                    then
                        version_days.tool_error_calls
                        + version_days.server_error_calls
                        + version_days.transport_error_calls
                else 0
            end as error_calls,
            version_days.first_called_at,
            version_days.last_called_at
        from {{ version_summary }} as version_days
        cross join lateral (
            select
                entry.key::integer as bucket_index,
                entry.value::bigint as bucket_calls,
                row_number() over () = 1 as is_first
            from jsonb_each_text(version_days.duration_histogram) as entry
        ) as histogram
    {%- endif %}
),

ranked_versions as (
    select
        version_buckets.bcp_name,
        version_buckets.tool_version,
        rank() over (
            partition by version_buckets.bcp_name
            order by min(version_buckets.first_called_at) desc, version_buckets.tool_version desc
        ) as recency
    from version_buckets
    where version_buckets.tool_version is not null
    group by version_buckets.bcp_name, version_buckets.tool_version
),

-- each bucket row on its side of each comparison it belongs to: the server's newest version
-- (after) or the one before it (before) for 'release', this week (the 7 days ending on as_of)
-- or last week for 'week_over_week'
sided as (
    select
        comparisons.comparison,
        comparisons.version,
        comparisons.previous_version,
        comparisons.side,
        version_buckets.bcp_name,
        version_buckets.tool_name,
        version_buckets.bucket_index,
        version_buckets.bucket_calls,
        version_buckets.eligible_calls,
        version_buckets.error_calls,
        version_buckets.first_called_at,
        version_buckets.last_called_at
    from version_buckets
    cross join thresholds
    left join ranked_versions as newest
        on version_buckets.bcp_name = newest.bcp_name and newest.recency = 1
    left join ranked_versions as previous
        on version_buckets.bcp_name = previous.bcp_name and previous.recency = 2
    cross join
        lateral (  -- noqa: ST05
            select
                'release' as comparison,
                newest.tool_version as version,
                previous.tool_version as previous_version,
                case
                    when previous.tool_version is null then null
                    when version_buckets.tool_version = newest.tool_version then 'after'
                    when version_buckets.tool_version = previous.tool_version then 'before'
                end as side
            union all
            select
                'week_over_week' as comparison,
                null as version,
                null as previous_version,
                case
                    when
                        date_trunc('day', version_buckets.first_called_at, 'UTC')
                        not between thresholds.as_of - interval '312 hours' and thresholds.as_of
                        then null
                    when
                        date_trunc('day', version_buckets.first_called_at, 'UTC')
                        > thresholds.as_of - interval '168 hours'
                        then 'after'
                    else 'before'
                end as side
        ) as comparisons
    where comparisons.side is not null
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
    from (
        select
            sided.comparison,
            sided.bcp_name,
            sided.tool_name,
            sided.side,
            sided.bucket_index,
            sum(sided.bucket_calls) as calls_in_bucket
        from sided
        group by sided.comparison, sided.bcp_name, sided.tool_name, sided.side, sided.bucket_index
    ) as bucket_calls
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
        sum(sided.bucket_calls)::bigint as total_calls,
        sum(sided.eligible_calls)::bigint as eligible_calls,
        sum(sided.error_calls)::bigint as error_calls,
        min(sided.first_called_at) as first_called_at,
        max(sided.last_called_at) as last_called_at
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
        ) as error_p_value
    from side_figures as after_side
    inner join side_figures as before_side
        on
            {{ mart_join_keys('after_side', 'before_side', ['comparison', 'bcp_name', 'tool_name']) }}
            and before_side.side = 'before'
    where after_side.side = 'after'
),

-- a row per metric of each pair, kept where it regressed
reference_rows as (
    select
        pairs.comparison,
        pairs.bcp_name,
        pairs.tool_name,
        metrics.metric,
        pairs.version,
        pairs.previous_version,
        metrics.before_value,
        metrics.after_value,
        metrics.ratio,
        metrics.p_value,
        metrics.threshold,
        metrics.calls_before,
        metrics.calls_after,
        metrics.errors_before,
        metrics.errors_after,
        pairs.before_first as before_first_called_at,
        pairs.before_last as before_last_called_at,
        pairs.after_first as after_first_called_at,
        pairs.after_last as after_last_called_at
    from pairs
    cross join thresholds
    cross join
        lateral (
            values
            (
                'error_rate',
                round(pairs.before_errors::numeric / nullif(pairs.before_eligible, 0), 6),
                round(pairs.after_errors::numeric / nullif(pairs.after_eligible, 0), 6),
                round(
                    (pairs.after_errors * pairs.before_eligible)::numeric
                    / nullif(pairs.before_errors * pairs.after_eligible, 0),
                    6
                ),
                pairs.error_p_value,
                thresholds.alpha,
                pairs.before_eligible,
                pairs.after_eligible,
                pairs.before_errors,
                pairs.after_errors,
                least(pairs.before_eligible, pairs.after_eligible) >= thresholds.min_calls
                and pairs.after_errors::numeric / nullif(pairs.after_eligible, 0)
                > pairs.before_errors::numeric / nullif(pairs.before_eligible, 0)
                and pairs.error_p_value < thresholds.alpha
            ),
            (
                'p95_duration_ms',
                round(pairs.before_p95::numeric, 3),
                round(pairs.after_p95::numeric, 3),
                round((pairs.after_p95 / nullif(pairs.before_p95, 0))::numeric, 6),
                null,
                thresholds.max_p95_ratio,
                pairs.before_total,
                pairs.after_total,
                null,
                null,
                least(pairs.before_total, pairs.after_total) >= thresholds.min_calls
                and pairs.before_p95 > 0
                and pairs.after_p95 > thresholds.max_p95_ratio * pairs.before_p95
            )
        ) as metrics (
            metric, before_value, after_value, ratio, p_value, threshold, calls_before, calls_after,
            errors_before, errors_after, is_regressed
        )
    where metrics.is_regressed
),

mart_rows as (
    select {{ columns | join(', ') }}
    from {{ ref('tool_regressions') }}
    where bcp_name in (select in_scope.bcp_name from in_scope)
),

{{ mart_differences(columns) }}

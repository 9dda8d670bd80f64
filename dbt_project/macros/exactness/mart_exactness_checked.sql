{#-
    What an exactness check of this build compares, read once when the test runs (dbt's
    `execute`), so that the comparison filters on literal time ranges: PostgreSQL prunes
    partitions and reads index ranges at plan time, and a check costs the buckets it compares,
    not the history. Build scope: the buckets the mart's last run rebuilt (public.mart_last_rebuilt,
    written by its post-hook) and a seeded sample of var mart_exactness_sample_buckets hours
    drawn from every hour between the mart's oldest bucket (or the raw retention horizon of
    `raw_source`) and the end of its newest (so a bucket missing from the mart can be drawn
    too), a day being compared when its first hour is drawn (so a daily mart's sample reads
    about as many hours of raw rows as an hourly mart's, not as many whole days); buckets
    older than the horizon or on a day with ledger entries still pending for `pending_marts` are
    left out; adjacent buckets merge into ranges (gaps and islands), at most 50 of them (beyond,
    the ranges span the smallest gaps and the exact buckets are listed too). Full scope (var
    mart_exactness_scope 'full'): the whole history newer than the horizon, pending days left out.
    Returns a dict for mart_exactness_where: time_column, grain, scope, horizon (text), ranges and pending
    ([start, end) pairs of epoch seconds), buckets (epoch seconds, or none), seed.
-#}
{% macro mart_exactness_checked(mart, time_column, raw_source, pending_marts, grain=none) %}
    {%- if pending_marts is string or pending_marts is not iterable or not pending_marts -%}
        {{ exceptions.raise_compiler_error(
            'mart_exactness_checked: pending_marts must be a non-empty list of marts, got '
            ~ pending_marts) }}
    {%- endif -%}
    {%- for pending_mart in pending_marts -%}
        {%- do assert_identifier(pending_mart, 'mart_exactness_checked', 'pending_marts') -%}
    {%- endfor -%}
    {%- do assert_identifier(time_column, 'mart_exactness_checked', 'time_column') -%}
    {%- do assert_identifier(raw_source, 'mart_exactness_checked', 'raw_source') -%}
    {%- set grain = mart_exactness_grain(grain, time_column) -%}
    {%- set scope = mart_exactness_scope() -%}
    {%- set sample_size = mart_exactness_whole_number(
        var('mart_exactness_sample_buckets', 3),
        'mart_exactness_checked: var mart_exactness_sample_buckets', 'buckets (0 = no sample)') -%}
    {%- set seed = ((var('mart_exactness_sample_seed', '') or '') | string or invocation_id) -%}
    {%- set checked = {
        'time_column': time_column, 'grain': grain, 'scope': scope, 'horizon': '-infinity', 'ranges': [], 'pending': [],
        'buckets': none, 'seed': seed} -%}
    {#- the database is read only when the check runs: `dbt compile` (or docs) on a warehouse
        whose marts are not built yet must not fail on a missing relation -#}
    {%- if not execute or flags.WHICH not in ('test', 'build', 'retry') -%}
        {{ return(checked) }}
    {%- endif -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    {%- set mart_name = mart_exactness_mart_name(mart) -%}
    {%- set relation = mart if mart is not string else ref(mart_name) -%}
    {%- set step = 3600 if grain == 'hour' else 86400 -%}
    {%- set max_ranges = 50 -%}
    {%- set query -%}
        with horizon as (
            select {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}') as horizon
        ),

        pending_days as (
            select distinct
                extract(epoch from date_trunc('day', pending.bucket, 'UTC'))::bigint as day_start
            from {{ raw_schema }}.mart_dirty_buckets as pending
            where pending.mart in ('{{ pending_marts | join("', '") }}')
        ),

        {% if scope == 'full' -%}
        checked_buckets as (
            select null::bigint as bucket_start
            where false
        ),
        {%- else -%}
        rebuilt as (
            select date_trunc('{{ grain }}', last_rebuilt.bucket, 'UTC') as bucket
            from {{ raw_schema }}.mart_last_rebuilt as last_rebuilt
            where last_rebuilt.mart = '{{ mart_name }}'
        ),

        -- the sample draws hours, whatever the grain: a day is compared when its first hour is
        -- drawn, so that a build's sample reads about as many hours of raw rows for a daily mart
        -- as for an hourly one (each day has the chance of one hour in 24)
        sampled as (
            select drawn.bucket
            from (
                select sampled.bucket
                from generate_series(
                    (
                        select
                            date_trunc(
                                '{{ grain }}',
                                greatest(min(oldest.{{ time_column }}), (select horizon from horizon)),
                                'UTC'
                            )
                        from {{ relation }} as oldest
                    ),
                    (
                        select
                            date_trunc('{{ grain }}', max(newest.{{ time_column }}), 'UTC')
                            + interval '1 {{ grain }}' - interval '1 hour'
                        from {{ relation }} as newest
                    ),
                    interval '1 hour'
                ) as sampled (bucket)
                order by
                    md5('{{ seed | replace("'", "''") }}/' || extract(epoch from sampled.bucket)::text)
                limit {{ sample_size | int }}
            ) as drawn
            where drawn.bucket = date_trunc('{{ grain }}', drawn.bucket, 'UTC')
        ),

        checked_buckets as (
            select distinct extract(epoch from candidates.bucket)::bigint as bucket_start
            from (
                select rebuilt.bucket from rebuilt
                union all
                select sampled.bucket from sampled
            ) as candidates
            where
                candidates.bucket >= date_trunc('{{ grain }}', (select horizon from horizon), 'UTC')
                and extract(epoch from date_trunc('day', candidates.bucket, 'UTC'))::bigint
                not in (select pending_days.day_start from pending_days)
        ),
        {%- endif %}

        -- adjacent buckets form one island
        islands as (
            select
                min(numbered.bucket_start) as range_start,
                max(numbered.bucket_start) + {{ step }} as range_end,
                array_agg(numbered.bucket_start order by numbered.bucket_start) as buckets
            from (
                select
                    checked_buckets.bucket_start,
                    checked_buckets.bucket_start
                    - {{ step }} * row_number() over (order by checked_buckets.bucket_start)
                    as island
                from checked_buckets
            ) as numbered
            group by numbered.island
        ),

        -- at most {{ max_ranges }} ranges: split at the largest gaps between islands
        gaps as (
            select
                islands.range_start,
                islands.range_end,
                islands.range_start
                - lag(islands.range_end) over (order by islands.range_start) as gap
            from islands
        ),

        ranked_gaps as (
            select
                gaps.range_start,
                gaps.range_end,
                row_number() over (order by gaps.gap desc nulls first, gaps.range_start)
                    as gap_rank
            from gaps
        ),

        ranges as (
            select
                min(grouped.range_start) as range_start,
                max(grouped.range_end) as range_end,
                count(*) as island_count
            from (
                select
                    ranked_gaps.range_start,
                    ranked_gaps.range_end,
                    count(*) filter (where ranked_gaps.gap_rank <= {{ max_ranges }})
                        over (order by ranked_gaps.range_start) as range_number
                from ranked_gaps
            ) as grouped
            group by grouped.range_number
        )

        select
            'horizon' as kind,
            horizon.horizon::text as horizon,
            null::bigint as range_start,
            null::bigint as range_end
        from horizon
        union all
        select 'pending', null, pending_days.day_start, pending_days.day_start + 86400
        from pending_days
        union all
        select 'range', null, ranges.range_start, ranges.range_end
        from ranges
        union all
        select 'bucket', null, unnest(islands.buckets), null
        from islands
        where (select count(*) from islands) > {{ max_ranges }}
        order by 1, 3
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- set buckets = [] -%}
    {%- for row in rows -%}
        {%- if row[0] == 'horizon' -%}
            {%- do checked.update({'horizon': row[1]}) -%}
        {%- elif row[0] == 'pending' -%}
            {%- do checked.pending.append([row[2] | int, row[3] | int]) -%}
        {%- elif row[0] == 'range' -%}
            {%- do checked.ranges.append([row[2] | int, row[3] | int]) -%}
        {%- else -%}
            {%- do buckets.append(row[2] | int) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if buckets -%}
        {%- do checked.update({'buckets': buckets}) -%}
    {%- endif -%}
    {{ return(checked) }}
{% endmacro %}

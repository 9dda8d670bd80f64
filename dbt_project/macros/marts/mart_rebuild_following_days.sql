{#- Pre-hook step after mart_claim_dirty, for a daily mart over rolling windows: a changed day
    changes every window it falls in, so the `days` days after each rebuilt day (up to today)
    are rebuilt too. -#}
{% macro mart_rebuild_following_days(days) %}
    {%- if days is not number or days is boolean or days != days | int or days < 1 -%}
        {{ exceptions.raise_compiler_error(
            'mart_rebuild_following_days: days must be a whole number of days, at least 1, got '
            ~ days) }}
    {%- endif -%}
    -- the windows that hold a rebuilt day end on it or on one of the days after it
    insert into pg_temp.mart_rebuild (bucket)
    select distinct following.day
    from pg_temp.mart_rebuild as rebuilt
    cross join lateral (
        -- whole UTC days: 24 hours, never a local day of 23 or 25
        select rebuilt.bucket + step.n * interval '24 hours' as day
        from generate_series(1, {{ days | int }}) as step (n)
    ) as following
    where
        following.day <= now()
        and following.day not in (select already.bucket from pg_temp.mart_rebuild as already);
    {{ mart_rebuild_analyze() }}
{% endmacro %}

{#-
    The buckets an exactness check of this build compares (the body of the CTE
    `exactness_buckets`, one column `exactness_bucket`, starts of UTC hours or days at `grain`):
    those the mart's last run rebuilt (public.mart_last_rebuilt, written by its post-hook) and a
    seeded sample of var mart_exactness_sample_buckets others, drawn from every bucket between
    the mart's oldest (or the raw retention horizon of `raw_source`) and its newest, so that a
    bucket missing from the mart can be drawn too. With var mart_exactness_scope 'full' the
    checks compare the whole history and this renders an empty set (not read).
-#}
{% macro mart_exactness_buckets(mart, time_column, raw_source, grain=none) %}
    {%- do assert_identifier(time_column, 'mart_exactness_buckets', 'time_column') -%}
    {%- do assert_identifier(raw_source, 'mart_exactness_buckets', 'raw_source') -%}
    {%- set grain = mart_exactness_grain(grain, time_column) -%}
    {%- if mart_exactness_scope() == 'full' -%}
        select null::timestamptz as exactness_bucket
        where false
    {%- else -%}
        {%- set raw_schema = var('raw_schema', 'public') -%}
        {%- set mart_name = mart_exactness_mart_name(mart) -%}
        {%- set relation = mart if mart is not string else (ref(mart_name) if execute else mart) -%}
        {%- set sample_size = var('mart_exactness_sample_buckets', 3) -%}
        {%- if sample_size is not number or sample_size is boolean
              or sample_size != sample_size | int or sample_size < 0 -%}
            {{ exceptions.raise_compiler_error(
                'mart_exactness_buckets: var mart_exactness_sample_buckets must be a whole number '
                ~ 'of buckets (0 = no sample), got ' ~ sample_size) }}
        {%- endif -%}
        {%- set seed = ((var('mart_exactness_sample_seed', '') or '') | string or invocation_id)
            | replace("'", "''") -%}
        -- rebuilt by the mart's last run (its post-hook recorded them)
        select date_trunc('{{ grain }}', last_rebuilt.bucket, 'UTC') as exactness_bucket
        from {{ raw_schema }}.mart_last_rebuilt as last_rebuilt
        where last_rebuilt.mart = '{{ mart_name }}'
        {%- if sample_size | int > 0 %}
            union
            -- a sample of the others, seeded with '{{ seed }}' (the run's id unless var
            -- mart_exactness_sample_seed is set: a failure reruns with that seed)
            (
                select sampled.exactness_bucket
                from generate_series(
                    (
                        select
                            date_trunc(
                                '{{ grain }}',
                                greatest(
                                    min(oldest.{{ time_column }}),
                                    {{ raw_schema }}.mart_raw_horizon('{{ raw_source }}')
                                ),
                                'UTC'
                            )
                        from {{ relation }} as oldest
                    ),
                    (select max(newest.{{ time_column }}) from {{ relation }} as newest),
                    interval '1 {{ grain }}'
                ) as sampled (exactness_bucket)
                order by md5('{{ seed }}/' || extract(epoch from sampled.exactness_bucket)::text)
                limit {{ sample_size | int }}
            )
        {%- endif %}
    {%- endif -%}
{% endmacro %}

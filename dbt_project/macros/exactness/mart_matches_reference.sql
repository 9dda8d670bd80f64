{#-
    Body of a singular test: the mart's rows equal a recomputation from the raw rows
    (`reference_sql`), compared with except all both ways where `checked` says
    (mart_exactness_checked: the buckets the mart's last run rebuilt and a sample, or the whole
    history with var mart_exactness_scope 'full'). `reference_sql` should read its raw rows
    under mart_exactness_where too, so that it reads only those buckets. Returns one row per
    difference, labelled with the side it is only in.
-#}
{% macro mart_matches_reference(mart, columns, reference_sql, checked) %}
    {%- set column_list = mart_exactness_columns(columns, 'mart_matches_reference') -%}
    {%- set condition = mart_exactness_where(checked.time_column, checked) -%}
    -- compared: scope {{ checked.scope }}, {{ checked.ranges | length }} range(s) of whole
    -- {{ checked.grain }}s; the sample is seeded with '{{ checked.seed }}' (to rerun a failure
    -- on the same buckets, set var mart_exactness_sample_seed to it)
    with mart_rows as (
        select {{ column_list }}
        from {{ mart }}
        where {{ condition }}
    ),

    -- materialized: the filter below is not pushed into the recomputation, whose raw rows are
    -- already restricted (a per-row date_trunc of every condition would cost more than the read)
    recomputed as materialized ({{ reference_sql }}),

    reference_rows as (
        select {{ column_list }}
        from recomputed
        where {{ condition }}
    ),

    {{ mart_differences(columns) }}
{% endmacro %}

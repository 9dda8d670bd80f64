{#-
    A where condition selecting the rows of `relation` (a mart) that its last run rebuilt, for
    the generic tests of a build (the `__rebuilt_rows__` placeholder of their `where` config,
    replaced by get_where_subquery): its `time_column` (default: the model's meta.time_column)
    in the buckets public.mart_last_rebuilt holds for it, widened to `grain` (default: the
    model's meta.rebuilt_rows_grain, else hours, or days for a column named `day`; every
    bucket after a full build, none when the ledger had nothing for it), as literal UTC ranges
    (adjacent buckets merged), so that PostgreSQL reads an index range and a check costs what
    the build rebuilt, not the history. Beyond 50 ranges: their hull, with the buckets
    semi-joined. `true` (the whole table) with var mart_exactness_scope 'full' (the daily
    maintenance job) and outside `dbt test`/`build`/`retry` (a compile reads no table).
-#}
{% macro mart_rebuilt_rows_where(relation, time_column=none, grain=none) %}
    {%- if relation is string or relation.identifier is not defined -%}
        {{ exceptions.raise_compiler_error(
            'mart_rebuilt_rows_where: relation must be a relation (the model under test, '
            ~ "ref('...')), got " ~ relation) }}
    {%- endif -%}
    {%- set mart = relation.identifier -%}
    {%- if (time_column is none or grain is none) and execute -%}
        {#- a loop's set does not outlive the loop: collect into a list -#}
        {%- set declared = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.alias == mart
                  and node.schema == relation.schema -%}
                {%- do declared.append(node.config.meta or {}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set meta = declared[0] if declared else {} -%}
        {%- if time_column is none and declared and meta.get('time_column') is none -%}
            {{ exceptions.raise_compiler_error(
                'mart_rebuilt_rows_where: ' ~ mart ~ ' declares no meta.time_column, so its '
                ~ 'rebuilt rows cannot be told apart: add e.g. time_column: hour to its '
                ~ "config's meta, or drop __rebuilt_rows__ from the test's where") }}
        {%- endif -%}
        {%- set time_column = time_column or meta.get('time_column') -%}
        {%- set grain = grain or meta.get('rebuilt_rows_grain') -%}
    {%- endif -%}
    {%- if not execute or flags.WHICH not in ('test', 'build', 'retry')
          or mart_exactness_scope() == 'full' -%}
        {{ return('true') }}
    {%- endif -%}
    {%- if time_column is none -%}
        {{ exceptions.raise_compiler_error(
            'mart_rebuilt_rows_where: no model ' ~ relation ~ ' in the project to read '
            ~ 'meta.time_column from: pass time_column') }}
    {%- endif -%}
    {%- do assert_identifier(time_column, 'mart_rebuilt_rows_where', 'time_column') -%}
    {%- set grain = mart_exactness_grain(grain, time_column) -%}
    {%- set step = 3600 if grain == 'hour' else 86400 -%}
    {%- set raw_schema = var('raw_schema', 'public') -%}
    {%- set query -%}
        with rebuilt as (
            select distinct
                extract(epoch from date_trunc('{{ grain }}', last_rebuilt.bucket, 'UTC'))::bigint
                    as bucket_start
            from {{ raw_schema }}.mart_last_rebuilt as last_rebuilt
            where last_rebuilt.mart = '{{ mart }}'
        )

        select
            min(numbered.bucket_start) as range_start,
            max(numbered.bucket_start) + {{ step }} as range_end
        from (
            select
                rebuilt.bucket_start,
                rebuilt.bucket_start - {{ step }} * row_number() over (
                    order by rebuilt.bucket_start
                ) as island
            from rebuilt
        ) as numbered
        group by numbered.island
        order by range_start
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if not rows -%}
        {{ return('false') }}
    {%- endif -%}
    {%- if rows | length > 50 -%}
        {{ return(mart_exactness_range(time_column, rows[0][0], rows[-1][1])
            ~ " and date_trunc('" ~ grain ~ "', " ~ time_column ~ ", 'UTC') in ("
            ~ "select date_trunc('" ~ grain ~ "', last_rebuilt.bucket, 'UTC') from " ~ raw_schema
            ~ '.mart_last_rebuilt as last_rebuilt'
            ~ " where last_rebuilt.mart = '" ~ mart ~ "')") }}
    {%- endif -%}
    {%- set ranges = [] -%}
    {%- for row in rows -%}
        {%- do ranges.append(mart_exactness_range(time_column, row[0], row[1])) -%}
    {%- endfor -%}
    {{- return('(' ~ ranges | join(' or ') ~ ')') -}}
{% endmacro %}

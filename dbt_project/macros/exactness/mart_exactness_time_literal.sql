{#-
    A timestamptz literal of the one value `query` returns, read when the test runs (dbt's
    `execute`): a bound the planner sees at plan time (partition pruning, the real size of an
    index range), where a scalar subquery is a parameter it must guess. `null::timestamptz` at
    parse time, outside `dbt test`/`build` (a compile must not need built marts) or when the
    value is null.
-#}
{% macro mart_exactness_time_literal(query) %}
    {%- set value = none -%}
    {%- if execute and flags.WHICH in ('test', 'build', 'retry') -%}
        {%- set value = run_query(
            'select given.value::timestamptz::text from (' ~ query ~ ') as given (value)').rows[0][0] -%}
    {%- endif -%}
    {{- return(("'" ~ value ~ "'" if value is not none else 'null') ~ '::timestamptz') -}}
{% endmacro %}

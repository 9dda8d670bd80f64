{#-
    The raw tool calls a recomputation reads (a query for a subquery or CTE): `columns` of
    tool_usage_logs (alias raw_calls) and `error_class`, as stored at ingest or else by the same
    rule in SQL (mcp_error_class, bootstrap_sql/080), for rows whose time is set and that match
    `condition`; with `checked` (mart_exactness_checked), only the rows of what the check
    compares (mart_exactness_where). Independent of the staging view: it reads the raw table.
-#}
{% macro mart_reference_tool_calls(columns, checked=none, condition=none) %}
    {%- do mart_exactness_columns(columns, 'mart_reference_tool_calls') -%}
    select
    {%- for column in columns %}
            raw_calls.{{ column }},
    {%- endfor %}
        coalesce(
            raw_calls.error_class,
            {{ var('raw_schema', 'public') }}.mcp_error_class(raw_calls.success, raw_calls.error_code)
        ) as error_class
    from {{ source('mcp', 'tool_usage_logs') }} as raw_calls
    where
        raw_calls."timestamp" is not null
    {%- if checked %}
            and {{ mart_exactness_where('raw_calls."timestamp"', checked) }}
    {%- endif %}
    {%- if condition %}
            and ({{ condition }})
    {%- endif %}
{% endmacro %}

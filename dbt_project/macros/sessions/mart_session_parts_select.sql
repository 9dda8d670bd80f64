{#- The final select of a transport sessions' partials model (int_session_hours,
    int_session_days): each row of the CTE `merged`, its bucket `grain` ('hour' or 'day', the
    model's time column), the session's fields (mart_session_fields) and its measures (first
    call's time and raw id, last call, latest end, operations), cast to the types the models
    declare. On an incremental run, `union all` a row of 0 operations (times and client
    fields null) for each session that had a row in a bucket rebuilt now (pg_temp.mart_rebuild)
    and has none in `current`, the CTE of the buckets' new input rows, whose time column
    `current_time` is truncated to `grain`: that is how the merge learns that a session's
    calls there were all deleted. The nulls are typed too (a union keeps a varchar's length
    only where every branch has it). -#}
{% macro mart_session_parts_select(merged, grain, current, current_time) %}
    {%- if grain not in ('hour', 'day') -%}
        {{ exceptions.raise_compiler_error(
            "mart_session_parts_select: grain must be 'hour' or 'day', got " ~ grain) }}
    {%- endif -%}
    {%- do assert_identifier(merged, 'mart_session_parts_select', 'merged') -%}
    {%- do assert_identifier(current, 'mart_session_parts_select', 'current') -%}
    {%- do assert_identifier(current_time, 'mart_session_parts_select', 'current_time') -%}
    select
        {{ merged }}.{{ grain }},
        {{ mart_session_fields(merged) }},
        {{ merged }}.first_called_at::timestamptz as first_called_at,
        {{ merged }}.first_tool_call_id::bigint as first_tool_call_id,
        {{ merged }}.last_operation_at::timestamptz as last_operation_at,
        {{ merged }}.ended_at::timestamptz as ended_at,
        {{ merged }}.operations::bigint as operations
    from {{ merged }}
    {%- if is_incremental() %}
        union all
        select
            previous.{{ grain }},
            previous.bcp_name,
            previous.session_id,
            null::varchar(255) as client_name,
            null::varchar(100) as client_version,
            null::varchar(50) as protocol_version,
            null::timestamptz as first_called_at,
            null::bigint as first_tool_call_id,
            null::timestamptz as last_operation_at,
            null::timestamptz as ended_at,
            0::bigint as operations
        from {{ this }} as previous
        where
            previous.{{ grain }} in (
                select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt
            )
            and not exists (
                select 1
                from {{ current }}
                where
                    date_trunc('{{ grain }}', {{ current }}.{{ current_time }}, 'UTC')
                    = previous.{{ grain }}
                    and {{ current }}.bcp_name = previous.bcp_name
                    and {{ current }}.session_id = previous.session_id
            )
    {%- endif %}
{%- endmacro %}

{#- Whether the row of `alias` (a raw call or an hour of the hourly tool summary) is a tool
    call: operation tools/call, or a tool's own operation name (the instrumentation's
    `operation=`, loaded rows such as read/write), but not an MCP method without a slash
    (initialize, ping: their spans carry the method as tool name too). -#}
{% macro mart_is_tool_call(alias) -%}
    ({{ alias }}.operation = 'tools/call'
        or ({{ alias }}.operation not like '%/%'
            and {{ alias }}.operation not in ('initialize', 'ping')))
{%- endmacro %}

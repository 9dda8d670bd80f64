{#- The fields that say whose a session is, cast to the types the session models declare
    (int_session_hours, int_session_days, mcp_sessions): server, transport session id, client name and version,
    protocol version, from the relation or CTE `alias`. -#}
{% macro mart_session_fields(alias) %}
    {%- do assert_identifier(alias, 'mart_session_fields', 'alias') -%}
    {{ alias }}.bcp_name::varchar(255) as bcp_name,
    {{ alias }}.session_id::varchar(255) as session_id,
    {{ alias }}.client_name::varchar(255) as client_name,
    {{ alias }}.client_version::varchar(100) as client_version,
    {{ alias }}.protocol_version::varchar(50) as protocol_version
{%- endmacro %}

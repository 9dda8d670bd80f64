-- Error budgets (docs/analytics.md, "Error budget"): analytics.tool_error_budget counts each
-- tool's failures that are the server's (tool, server and transport errors; caller errors
-- count neither as failures nor as calls) against an SLO target kept here, over a rolling 28
-- days. The default target holds for every tool; `targets` overrides it per MCP server
-- ("bcp_name") or per tool ("bcp_name/tool_name", which wins).

insert into system_configuration (
    config_key, config_value, description, config_type, is_sensitive, validation_schema
) values (
    'analytics.error_budget',
    '{"slo_target": 0.99, "targets": {}}',
    'SLO target of tool calls (share of calls, caller errors left out, that must not fail with '
    'a tool, server or transport error): slo_target for every tool, targets {"<bcp_name>" or '
    '"<bcp_name>/<tool_name>": target} overriding it. Read by analytics.tool_error_budget.',
    'analytics',
    false,
    '{"type": "object", "required": ["slo_target"], "additionalProperties": false,
      "properties": {
        "slo_target": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "targets": {"type": "object", "additionalProperties":
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}}}'
) on conflict (config_key) do nothing;

-- The SLO target of one tool: the most specific of targets["bcp/tool"], targets["bcp"],
-- slo_target (0.99 when the row is missing). A value that is not a number strictly between 0
-- and 1 is an error naming the key, so a typo fails the build instead of skewing budgets.
create function mcp_slo_target(p_bcp_name text, p_tool_name text)
returns numeric
language plpgsql
stable
parallel safe
set search_path = public, pg_temp
as $$
declare
    v_config jsonb;
    v_value jsonb;
    v_where text;
begin
    select c.config_value into v_config
    from public.system_configuration as c
    where c.config_key = 'analytics.error_budget';
    if v_config is null then
        return 0.99;
    end if;
    v_where := 'targets."' || p_bcp_name || '/' || p_tool_name || '"';
    v_value := v_config -> 'targets' -> (p_bcp_name || '/' || p_tool_name);
    if v_value is null then
        v_where := 'targets."' || p_bcp_name || '"';
        v_value := v_config -> 'targets' -> p_bcp_name;
    end if;
    if v_value is null then
        v_where := 'slo_target';
        v_value := coalesce(v_config -> 'slo_target', '0.99'::jsonb);
    end if;
    if jsonb_typeof(v_value) <> 'number' or v_value::numeric <= 0 or v_value::numeric >= 1 then
        raise exception 'system_configuration analytics.error_budget: % must be a number '
            'between 0 and 1 (exclusive), got %', v_where, v_value
            using errcode = 'invalid_parameter_value',
            hint = 'e.g. 0.99 (99 % of calls without a tool, server or transport error)';
    end if;
    return v_value::numeric;
end;
$$;

comment on function mcp_slo_target(text, text) is
'SLO target of a tool from system_configuration analytics.error_budget (most specific of '
'targets["bcp/tool"], targets["bcp"], slo_target; 0.99 when unset).';

grant execute on function mcp_slo_target(text, text) to mcp_analyst, mcp_admin;

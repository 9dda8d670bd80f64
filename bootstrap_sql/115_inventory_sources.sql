-- Tool inventory from every source (docs/analytics.md, "Tool inventory"): the servers the
-- Dagster asset inventory/snapshots reads on its schedule, and snapshots that read only some
-- kinds of definitions (the SDK instrumentation records the tools/list, prompts/list, ...
-- results it serves, one list at a time).
--
-- Before the first release this file also redefined mcp_record_inventory() with its "kinds";
-- 082 now defines that final function, so both texts of each file end in the same state.

-- The servers the scheduled asset snapshots: a list of {"url": "http://host/mcp"} or
-- {"command": "python server.py", "env": {...}} entries (plain URL strings too), empty by
-- default. Sensitive: a URL or an env may hold a credential (never stored with a snapshot).
insert into system_configuration (
    config_key, config_value, description, config_type, is_sensitive, validation_schema
) values (
    'analytics.inventory_servers',
    '[]',
    'MCP servers whose tools/prompts/resources lists the Dagster asset inventory/snapshots '
    'reads on its schedule: [{"url": "http://host/mcp"} or {"command": "python server.py", '
    '"env": {...}, "timeout": 30}]. Empty: nothing is snapshotted.',
    'analytics',
    true,
    '{"type": "array", "items": {"anyOf": [
        {"type": "string", "pattern": "^https?://"},
        {"type": "object", "required": ["url"],
         "properties": {"url": {"type": "string", "pattern": "^https?://"},
                        "timeout": {"type": "number", "exclusiveMinimum": 0}}},
        {"type": "object", "required": ["command"],
         "properties": {"command": {"type": "string", "minLength": 1},
                        "env": {"type": "object", "additionalProperties": {"type": "string"}},
                        "timeout": {"type": "number", "exclusiveMinimum": 0}}}]}}'
) on conflict (config_key) do nothing;

-- The settings that came after 090 without a validation_schema accepted any JSON in the
-- dashboard; the code reading them then warned and fell back to its default. Give the ones a
-- JSON Schema can state exactly the rule their reader applies (analytics.redaction's regular
-- expressions and detectors are checked by its reader, mcp_analytics.ingest.redaction, when
-- the dashboard saves it). A schema already set by an operator is left alone.

update system_configuration as c
set validation_schema = s.schema_json::jsonb
from (
    values
    -- mcp_analytics.ingest.events.TimeWindow.from_config
    (
        'analytics.event_time_window',
        '{"type": "object", "additionalProperties": false, "properties": {'
        || '"max_age_days": {"type": "number", "exclusiveMinimum": 0}, '
        || '"max_ahead_seconds": {"type": "number", "exclusiveMinimum": 0}, '
        || '"warn_ahead_seconds": {"type": "number", "exclusiveMinimum": 0}}}'
    ),
    -- public.maintenance_seconds (063): a positive number of seconds
    ('maintenance.lock_timeout_seconds', '{"type": "number", "exclusiveMinimum": 0}'),
    ('maintenance.warehouse_lock_timeout_seconds', '{"type": "number", "exclusiveMinimum": 0}')
) as s (config_key, schema_json)
where c.config_key = s.config_key and c.validation_schema is null;

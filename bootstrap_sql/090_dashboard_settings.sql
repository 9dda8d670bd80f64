-- The dashboard (docs/dashboard.md) edits system_configuration and checks each new value
-- against the row's validation_schema (JSON Schema). The seed's rows had none: give the ones
-- the code reads a schema, so that a typo in the dashboard is refused rather than stored. A
-- schema already set by an operator is left alone.

update system_configuration as c
set validation_schema = s.schema_json::jsonb
from (
    values
    ('analytics.enabled', '{"type": "boolean"}'),
    ('analytics.batch_size', '{"type": "integer", "minimum": 1, "maximum": 100000}'),
    ('analytics.flush_interval_ms', '{"type": "integer", "minimum": 100, "maximum": 3600000}'),
    ('dashboard.refresh_interval_ms', '{"type": "integer", "minimum": 1000, "maximum": 3600000}'),
    ('auth.session_timeout_hours', '{"type": "number", "exclusiveMinimum": 0, "maximum": 8760}'),
    ('auth.max_login_attempts', '{"type": "integer", "minimum": 1, "maximum": 100}'),
    ('auth.lockout_duration_minutes', '{"type": "number", "exclusiveMinimum": 0, "maximum": 525600}')
) as s (config_key, schema_json)
where c.config_key = s.config_key and c.validation_schema is null;

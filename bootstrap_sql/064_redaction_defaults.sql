-- The redaction defaults docs/ingest.md promises: `ssn` and keys starting with `acct` are
-- secrets. 030 installed empty lists, so a fresh install stored them in clear. The row is
-- changed only where it still holds 030's value (a deliberate configuration is kept). No
-- `detectors` key: absent means every free-text detector, including ones added later.
update system_configuration
set
    config_value = '{"extra_keys": ["ssn"], "patterns": ["^acct"], "allow_keys": [], "marker": "[REDACTED]"}',
    description = 'Secret redaction for telemetry: extra secret keys, key regexes, keys never '
    || 'redacted, the marker, and optionally free_text and detectors (docs/ingest.md)',
    updated_at = current_timestamp
where
    config_key = 'analytics.redaction'
    and config_value
    = '{"extra_keys": [], "patterns": [], "allow_keys": [], "marker": "[REDACTED]"}'::jsonb;

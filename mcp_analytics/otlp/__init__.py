"""OpenTelemetry in: the OTLP/HTTP receiver (`mcp-analytics otlp serve`), decoding, the
mapping of spans, metrics and logs onto the raw tables, the alias table and API keys.
docs/otlp.md documents it."""

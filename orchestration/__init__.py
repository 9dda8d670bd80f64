"""The Dagster code location of mcp-analytics (`dagster dev -m orchestration.definitions`)."""

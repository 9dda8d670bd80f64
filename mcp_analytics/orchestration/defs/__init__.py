"""Definition modules assembled by `mcp_analytics.orchestration.definitions` (one concern each)."""

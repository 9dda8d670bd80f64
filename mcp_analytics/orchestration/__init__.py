"""The Dagster code location of mcp-analytics.

`dagster dev -m mcp_analytics.orchestration.definitions` (or `mcp-analytics ui`).
"""

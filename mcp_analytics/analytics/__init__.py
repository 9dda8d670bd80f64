"""MCP-aware analytics: error classes, tool inventory and definition drift, release
regressions, fast percentiles (docs/analytics.md)."""

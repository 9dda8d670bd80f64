"""Subcommands of `mcp-analytics`, one module each (see `mcp_analytics.cli`)."""

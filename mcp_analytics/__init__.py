"""mcp-analytics: an analytics warehouse for MCP server telemetry."""

__version__ = "0.1.0"

"""Collector for MCP servers: `from mcp_analytics.collector import Collector`."""

from mcp_analytics.collector.core import Collector, read_settings
from mcp_analytics.ingest.redaction import RedactionRules

__all__ = ["Collector", "RedactionRules", "read_settings"]

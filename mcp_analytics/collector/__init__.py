"""Collector for MCP servers: `from mcp_analytics.collector import Collector`."""

from ..redaction import RedactionRules
from .core import Collector, read_settings

__all__ = ["Collector", "RedactionRules", "read_settings"]

"""OpenMetrics exposition of the tool marts: `mcp.server.operation.duration` for Prometheus.

`collector.MartCollector` reads `analytics.daily_tool_usage_summary` at each scrape;
`app.create_app` serves it at /metrics (`mcp-analytics metrics serve`). docs/metrics.md.
"""

from mcp_analytics.metrics.app import create_app
from mcp_analytics.metrics.collector import ERROR_CLASSES, SEMCONV_BOUNDS_S, MartCollector

__all__ = ["ERROR_CLASSES", "SEMCONV_BOUNDS_S", "MartCollector", "create_app"]

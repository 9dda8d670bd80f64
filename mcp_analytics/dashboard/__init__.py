"""The MCP Analytics Dashboard: server-rendered pages on the marts, behind the seed's users.

`create_app(DashboardConfig)` builds the Starlette application; `mcp-analytics dashboard`
serves it with uvicorn. Pages read the marts (schema `analytics`) through the analyst URL;
sign-in, sessions and administrative writes go through `mcp_analytics.auth` on the admin URL.
"""

from __future__ import annotations

from mcp_analytics.dashboard.app import create_app
from mcp_analytics.dashboard.db import DashboardConfig

__all__ = ["DashboardConfig", "create_app"]

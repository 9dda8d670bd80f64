"""The MCP Analytics Dashboard: server-rendered pages on the marts, behind the seed's users.

`create_app(DashboardConfig)` builds the Starlette application; `mcp-analytics dashboard`
serves it with uvicorn. Pages read the marts (schema `analytics`) through the analyst URL;
sign-in, sessions and administrative writes go through `mcp_analytics.auth` on the admin URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_analytics.dashboard.db import DashboardConfig

if TYPE_CHECKING:
    from mcp_analytics.dashboard.app import create_app

__all__ = ["DashboardConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # create_app on first use: importing the app imports `vendor`, which would then already be
    # in sys.modules when `python -m mcp_analytics.dashboard.vendor` runs it (a RuntimeWarning).
    if name == "create_app":
        from mcp_analytics.dashboard.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

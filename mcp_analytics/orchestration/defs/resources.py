"""Resources: dbt pointed at the project's database (lib/dbt_resource.py), and PostgreSQL.

Both take an optional `database_url`; None means "the project's database" as resolved by
`mcp_analytics.warehouse.db` (DATABASE_URL or the embedded server), so tests can point the whole
code location at a database of their own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import psycopg
from pydantic import Field

from mcp_analytics.orchestration.lib.dbt_resource import build_dbt_resource
from mcp_analytics.warehouse import db

#: The one advisory lock every writer of the warehouse holds (agreed in notes/coordination.md):
#: dbt builds and retention never overlap, even when started outside Dagster.
WAREHOUSE_LOCK_SQL = "hashtext('mcp_analytics'), hashtext('warehouse')"


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse lock for longer than we were willing to wait."""


class PostgresResource(dg.ConfigurableResource):
    """Connections to the warehouse through `mcp_analytics.warehouse.db` (no password logged)."""

    database_url: str | None = Field(
        default=None, description="libpq URL; empty means the project's database"
    )
    lock_timeout_seconds: float = Field(
        default=3600.0, description="how long a writer waits for the warehouse lock"
    )

    def url(self) -> str:
        return self.database_url or db.database_url()

    @contextlib.contextmanager
    def connection(self, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
        with db.connection(self.url(), autocommit=autocommit) as conn:
            yield conn

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def warehouse_lock(
        self, log: dg.DagsterLogManager | None = None, *, shared: bool = False
    ) -> Iterator[psycopg.Connection]:
        """Hold the warehouse advisory lock on a connection of our own for the block's duration.

        dbt builds hold it shared (the marts' pre-hooks take it shared too, so an exclusive
        hold here would deadlock them); retention holds it exclusive, so it waits for builds and
        builds wait for it. Yields the connection: apply_retention, which takes the same lock,
        is called on it (advisory locks are re-entrant per session).
        """
        kind = "_shared" if shared else ""
        with self.connection() as conn:
            deadline = time.monotonic() + self.lock_timeout_seconds
            announced = False
            while not conn.execute(
                f"select pg_try_advisory_lock{kind}({WAREHOUSE_LOCK_SQL})"
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        "another writer (dbt build or retention) still holds the warehouse lock "
                        f"after {self.lock_timeout_seconds:.0f} s"
                    )
                if log and not announced:
                    log.info("waiting for the warehouse lock (another build or retention runs)")
                    announced = True
                time.sleep(0.5)
            try:
                yield conn
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f"select pg_advisory_unlock{kind}({WAREHOUSE_LOCK_SQL})")


def build_resources(database_url: str | None = None) -> dict[str, Any]:
    """Every resource the code location needs, all pointed at one database."""
    return {
        "dbt": build_dbt_resource(database_url),
        "postgres": PostgresResource(database_url=database_url),
    }

"""Resources: dbt pointed at the project's database (lib/dbt_resource.py), and PostgreSQL.

Both take an optional `database_url`; None means "the project's database" as resolved by
`mcp_analytics.warehouse.db` (DATABASE_URL or the embedded server), so tests can point the whole
code location at a database of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import psycopg
from pydantic import Field

from mcp_analytics.orchestration.lib.dbt_resource import build_dbt_resource
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.lock import warehouse_lock


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
        """Hold the warehouse lock (`warehouse.lock`: a table lock only administrators can
        take) in a transaction on a connection of our own for the block's duration, and yield
        that connection (statements on it belong to the holding transaction).

        dbt builds hold it shared (the marts' pre-hooks take it shared too, so an exclusive
        hold here would deadlock them); retention takes it exclusive in each of its
        transactions, so it waits for builds and builds wait for it.

        Raises:
            WarehouseBusyError (warehouse.lock): not obtained within `lock_timeout_seconds`.
        """
        with (
            self.connection() as conn,
            warehouse_lock(
                conn,
                shared=shared,
                timeout_seconds=self.lock_timeout_seconds,
                on_wait=log.info if log else None,
            ),
        ):
            yield conn


def build_resources(database_url: str | None = None) -> dict[str, Any]:
    """Every resource the code location needs, all pointed at one database."""
    return {
        "dbt": build_dbt_resource(database_url),
        "postgres": PostgresResource(database_url=database_url),
    }

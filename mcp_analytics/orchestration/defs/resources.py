"""Resources: dbt pointed at the project's database, and a small PostgreSQL resource.

Both take an optional `database_url`; None means "the project's database" as resolved by
`mcp_analytics.warehouse.db` (DATABASE_URL or the embedded server), so tests can point the whole
code location at a database of their own.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
from dagster_dbt import DbtCliResource
from pydantic import Field

from mcp_analytics.config import settings
from mcp_analytics.dbt.env import dbt_env
from mcp_analytics.warehouse import db

#: The one advisory lock every writer of the warehouse holds (agreed in notes/coordination.md):
#: dbt builds and retention never overlap, even when started outside Dagster.
WAREHOUSE_LOCK_SQL = "hashtext('mcp_analytics'), hashtext('warehouse')"


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse lock for longer than we were willing to wait."""


def dbt_executable() -> str:
    """The dbt next to this interpreter (the venv's), so PATH does not matter."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Temporarily set environment variables (dagster-dbt hands os.environ to dbt)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


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


class McpaDbtCliResource(DbtCliResource):
    """dbt with the environment from `mcp_analytics.dbt.env.dbt_env()` (profiles.yml reads it).

    dagster-dbt passes os.environ to the dbt process and renders the profile in-process, so the
    variables are set for the duration of each `cli()` call rather than for the whole process.
    """

    database_url: str | None = Field(
        default=None, description="libpq URL dbt targets; empty means the project's database"
    )

    def cli(self, args: Sequence[str], **kwargs: Any):  # type: ignore[override]
        env = dbt_env(self.database_url, base={})
        with patched_environ(env):
            return super().cli(args, **kwargs)


def build_dbt_resource(database_url: str | None = None) -> McpaDbtCliResource:
    project_dir = str(settings().dbt_project_dir)
    return McpaDbtCliResource(
        project_dir=project_dir,
        profiles_dir=project_dir,
        dbt_executable=dbt_executable(),
        database_url=database_url,
    )


def build_resources(database_url: str | None = None) -> dict[str, Any]:
    """Every resource the code location needs, all pointed at one database."""
    return {
        "dbt": build_dbt_resource(database_url),
        "postgres": PostgresResource(database_url=database_url),
    }

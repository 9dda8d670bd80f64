"""The dashboard's two connection pools: admin (auth, admin writes) and analyst (the marts).

Sign-in needs the password hashes and session token hashes, which only the admin role reads
(row-level security and column grants keep `mcp_app` and `mcp_analyst` from them), so
`mcp_analytics.auth` runs on the admin URL, as `mcp-analytics users` does. Every page of
analytics reads the marts through the analyst URL (`MCPA_ANALYST_URL`, or the admin URL when
none is set) on read-only connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from mcp_analytics.warehouse import db

#: A page query that runs longer than this is cancelled (the page shows the error).
STATEMENT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard connects.

    Attributes:
        admin_url: libpq URL of the warehouse owner (auth, sessions, admin pages).
        analyst_url: libpq URL for the marts; the admin URL when no analyst role is configured.
        pool_size: connections per pool at most.
    """

    admin_url: str
    analyst_url: str
    pool_size: int = 6

    @classmethod
    def from_settings(cls) -> DashboardConfig:
        """The project's URLs: DATABASE_URL (or the embedded server) and MCPA_ANALYST_URL."""
        return cls(admin_url=db.database_url("admin"), analyst_url=db.database_url("analyst"))


def _configure(conn: psycopg.Connection) -> None:
    # jsonb (the marts' latency histograms) parsed by orjson: several times json's speed
    set_json_loads(orjson.loads, conn)


class Pools:
    """The open pools of one app; `close()` when the app stops."""

    def __init__(self, config: DashboardConfig) -> None:
        options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        self.admin = ConnectionPool(
            config.admin_url,
            min_size=1,
            max_size=config.pool_size,
            kwargs={"autocommit": True, "options": options},
            configure=_configure,
            open=False,
            name="dashboard-admin",
        )
        # Read-only even when it falls back to the admin URL: no page of analytics writes.
        self.analyst = ConnectionPool(
            config.analyst_url,
            min_size=1,
            max_size=config.pool_size,
            kwargs={
                "autocommit": True,
                "options": f"{options} -c default_transaction_read_only=on",
            },
            configure=_configure,
            open=False,
            name="dashboard-analyst",
        )

    def open(self) -> None:
        """Open both pools (connections are made in the background)."""
        self.admin.open()
        self.analyst.open()

    def close(self) -> None:
        self.admin.close()
        self.analyst.close()

    @contextmanager
    def admin_conn(self) -> Iterator[psycopg.Connection]:
        """An autocommit connection as the warehouse owner."""
        with self.admin.connection() as conn:
            yield conn

    @contextmanager
    def analyst_conn(self) -> Iterator[psycopg.Connection]:
        """An autocommit, read-only connection for the marts."""
        with self.analyst.connection() as conn:
            yield conn

"""The ingest role's database connection as the background writers hold it.

Both writers that spool during an outage (the collector and the OTLP receiver's sink) keep one
connection as the `mcp_ingest` role, notice when the database stops answering, and try again
after a capped exponential backoff with jitter. `IngestLink` is that state: the connection, whether
the database is down, and when the next attempt is due.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable

import psycopg

from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse import db

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


class IngestLink:
    """One ingest connection with outage state and backoff; used by one writer thread.

    Args:
        url: database URL, or None to resolve the ingest role's URL on the first connect (once:
            a reconnect must not, say, restart an embedded server).
        name: who writes, in log lines ("collector", "otlp receiver").
        log: the writer's logger.
        application_name: `application_name` set on each new connection.
        connect: opens a connection from a URL instead of `db.connect` as the ingest role
            (autocommit, 5 s connect timeout); `application_name` is then the caller's to set.
    """

    def __init__(
        self,
        url: str | None,
        *,
        name: str,
        log: logging.Logger,
        application_name: str,
        connect: Callable[[str], psycopg.Connection] | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.log = log
        self.application_name = application_name
        self._connect = connect or self._connect_ingest
        self._conn: psycopg.Connection | None = None
        #: True from a failed attempt until one succeeds
        self.down = False
        #: time.monotonic() before which no new attempt is made while down
        self.next_attempt = 0.0
        self._backoff = BACKOFF_START_S

    def connection(self) -> psycopg.Connection:
        """The open connection, or a new one. Raises what connecting raises
        (psycopg.OperationalError when the database does not answer)."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if self.url is None:
            self.url = db.database_url(role="ingest")
        self._conn = self._connect(self.url)
        return self._conn

    def disconnect(self) -> None:
        """Close the connection, if any; errors closing a dead one are ignored."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def forget(self) -> None:
        """Drop the connection without closing it (in a forked child: it is the parent's)."""
        self._conn = None

    def backing_off(self) -> bool:
        """Whether the database is down and the next attempt is not due yet."""
        return self.down and time.monotonic() < self.next_attempt

    def failed(self, err: BaseException) -> str:
        """Record a failed attempt: disconnect, mark down, schedule the next attempt.

        Returns the error as redacted text (for the writer's stats); logs a warning on the
        first failure of an outage only."""
        self.disconnect()
        message = redact_text(f"{type(err).__name__}: {err}")
        if not self.down:
            self.log.warning("%s cannot write, spooling and retrying: %s", self.name, message)
        self.down = True
        # Capped exponential backoff with full jitter in [backoff/2, backoff].
        delay = self._backoff * (0.5 + random.random() / 2)
        self.next_attempt = time.monotonic() + delay
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        return message

    def recovered(self) -> None:
        """Record a successful attempt: up again, backoff reset."""
        if self.down:
            self.log.info("%s: database reachable again", self.name)
        self.down = False
        self._backoff = BACKOFF_START_S
        self.next_attempt = 0.0

    def _connect_ingest(self, url: str) -> psycopg.Connection:
        conn = db.connect(url, role="ingest", autocommit=True, connect_timeout=5)
        conn.execute("select set_config('application_name', %s, false)", (self.application_name,))
        return conn

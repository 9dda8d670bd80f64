"""The warehouse advisory lock, keyed by the SQL function `warehouse_lock_key()`.

Every writer of the warehouse holds it: dbt builds shared (the marts' pre-hooks also take it
shared), retention exclusive (`apply_retention()` takes it per transaction as well). The key is
read from the database, never restated here, so SQL, dbt and Python cannot disagree on it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import psycopg

#: The query that yields the key (classid, objid): bootstrap_sql/040_retention.sql.
LOCK_KEY_SQL = "select classid, objid from warehouse_lock_key()"


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse lock for longer than we were willing to wait."""


class LockKeyMissingError(RuntimeError):
    """The database has no `warehouse_lock_key()`: it was not bootstrapped."""


def lock_key(conn: psycopg.Connection) -> tuple[int, int]:
    """The (classid, objid) pair of the warehouse advisory lock.

    Raises:
        LockKeyMissingError: `warehouse_lock_key()` does not exist (run `mcp-analytics
            bootstrap`).
    """
    try:
        row = conn.execute(LOCK_KEY_SQL).fetchone()
    except psycopg.errors.UndefinedFunction:
        if not conn.autocommit:
            conn.rollback()
        raise LockKeyMissingError(
            "the database has no warehouse_lock_key() function: run `mcp-analytics bootstrap`"
        ) from None
    assert row is not None  # a function with OUT parameters always returns one row
    return int(row[0]), int(row[1])


@contextlib.contextmanager
def warehouse_lock(
    conn: psycopg.Connection,
    *,
    shared: bool = False,
    timeout_seconds: float = 3600.0,
    on_wait: Callable[[str], None] | None = None,
    poll_seconds: float = 0.5,
) -> Iterator[None]:
    """Hold the warehouse lock (session level) on `conn` for the block's duration.

    `conn` should be in autocommit mode: the lock outlives the transactions run inside the
    block. Session advisory locks are re-entrant, so functions called inside that take the
    same key (`apply_retention()`) do not wait for us.

    Args:
        shared: take it shared (dbt builds) rather than exclusive (retention).
        timeout_seconds: give up after waiting this long, in seconds.
        on_wait: called once with a message when the lock is not free at once.
        poll_seconds: interval between attempts, in seconds.

    Raises:
        WarehouseBusyError: still held by another session after `timeout_seconds`.
        LockKeyMissingError: the database was not bootstrapped.
    """
    kind = "_shared" if shared else ""
    classid, objid = lock_key(conn)
    deadline = time.monotonic() + timeout_seconds
    announced = False
    while not conn.execute(
        f"select pg_try_advisory_lock{kind}(%s, %s)", (classid, objid)
    ).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise WarehouseBusyError(
                "another writer (dbt build or retention) still holds the warehouse lock "
                f"after {timeout_seconds:.0f} s"
            )
        if on_wait is not None and not announced:
            on_wait("waiting for the warehouse lock (a dbt build or retention is running)")
            announced = True
        time.sleep(poll_seconds)
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute(f"select pg_advisory_unlock{kind}(%s, %s)", (classid, objid))

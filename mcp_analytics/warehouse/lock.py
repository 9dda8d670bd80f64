"""The warehouse lock: a table lock on `public.warehouse_lock` (bootstrap_sql/063).

Every writer of the warehouse holds it: dbt builds SHARE (the marts' pre-hooks take it too, so
builds run side by side), retention EXCLUSIVE (`apply_retention()` takes it in each of its
transactions). LOCK TABLE in those modes needs UPDATE, DELETE or TRUNCATE on the table, which
only its owner and mcp_admin have: an analyst or an ingest login can neither take it nor hold
up maintenance with it (any role may take any advisory lock, which is what the warehouse used
before 063). The SQL function `warehouse_lock()` takes it with a bounded wait and names the
holders when it gives up; this module holds it for a block of Python.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psycopg

from mcp_analytics.warehouse.notices import relay_notices

#: Session setting `warehouse_lock()` reads for its wait, in seconds (when not given one).
TIMEOUT_SETTING = "mcp_analytics.warehouse_lock_timeout"


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse lock for longer than we were willing to wait."""


class LockKeyMissingError(RuntimeError):
    """The database has no `warehouse_lock()`: it was not bootstrapped (063)."""


@contextlib.contextmanager
def warehouse_lock(
    conn: psycopg.Connection,
    *,
    shared: bool = False,
    timeout_seconds: float = 3600.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the warehouse lock on `conn` for the block's duration, in one transaction.

    `conn` must be an autocommit connection of its own (the lock lives as long as the
    transaction this opens: statements run on it inside the block belong to that transaction).
    Hold it while another process works (a dbt build holds it `shared` this way); work that
    takes the lock itself, such as `apply_retention()`, needs no holder.

    Args:
        shared: SHARE (dbt builds) rather than EXCLUSIVE (retention).
        timeout_seconds: give up after waiting this long, in seconds.
        on_wait: called with the database's message (which names the holders) when the lock
            is not free at once.

    Raises:
        WarehouseBusyError: still held by another session after `timeout_seconds` (the message
            names it).
        LockKeyMissingError: the database was not bootstrapped with 063.
    """
    if not conn.autocommit:
        raise ValueError("warehouse_lock needs an autocommit connection of its own")
    with (
        relay_notices(conn, on_wait),
        conn.transaction(),
    ):
        try:
            conn.execute(
                "select warehouse_lock(%s, make_interval(secs => %s))",
                (shared, timeout_seconds),
            )
        except psycopg.errors.UndefinedFunction:
            raise LockKeyMissingError(
                "the database has no warehouse_lock() function: run `mcp-analytics bootstrap`"
            ) from None
        except psycopg.errors.LockNotAvailable as err:
            raise WarehouseBusyError(err.diag.message_primary or str(err)) from None
        yield

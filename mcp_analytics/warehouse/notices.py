"""Calling the warehouse's SQL functions from Python: NOTICEs relayed, errors made readable.

The operations (retention, partition upkeep, archive export) run their work in PostgreSQL
functions that report progress as NOTICEs and refuse with an error message plus a hint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psycopg

#: Receives one progress message (a NOTICE's text, or a line of the driver's own).
Notice = Callable[[str], None]


@contextlib.contextmanager
def relay_notices(conn: psycopg.Connection, on_notice: Notice | None) -> Iterator[None]:
    """Forward the server's NOTICEs on `conn` to `on_notice` for the block's duration."""
    if on_notice is None:
        yield
        return

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            on_notice(diag.message_primary)

    conn.add_notice_handler(handler)
    try:
        yield
    finally:
        conn.remove_notice_handler(handler)


def database_error(err: psycopg.Error) -> str:
    """The server's message for `err`, with its hint in parentheses when there is one."""
    diag = err.diag
    message = diag.message_primary or str(err)
    if diag.message_hint:
        message += f" ({diag.message_hint})"
    return message


def require_autocommit(
    conn: psycopg.Connection, operation: str, error: type[Exception] = RuntimeError
) -> None:
    """Refuse a connection inside a transaction: the operation commits its own work.

    Inside a caller's open transaction each `conn.transaction()` would silently become a
    savepoint and roll back with it.

    Raises:
        error: `conn` is not in autocommit mode.
    """
    if not conn.autocommit:
        raise error(f"{operation} needs an autocommit connection (it commits its own work)")

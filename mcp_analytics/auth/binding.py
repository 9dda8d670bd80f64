"""Bind a connection to one dashboard user for row-level security (bootstrap_sql/022)."""

from __future__ import annotations

import psycopg

SETTING = "mcp_analytics.user_id"


def bind_user(conn: psycopg.Connection, user_id: int | None, *, local: bool = True) -> None:
    """Make `users`/`sessions` show only `user_id`'s rows to non-admin roles.

    `local=True` (the default) lasts until the end of the current transaction, so a pooled
    connection cannot carry one user's binding into the next request. None unbinds.
    """
    if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
        raise TypeError("user_id must be an int or None")
    value = "" if user_id is None else str(user_id)
    conn.execute("select set_config(%s, %s, %s)", (SETTING, value, local))

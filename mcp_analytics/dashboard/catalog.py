"""What dbt has built of the marts the pages read (schema `analytics`)."""

from __future__ import annotations

import psycopg


def built(conn: psycopg.Connection, *marts: str) -> bool:
    """Whether every one of `marts` (table names in schema analytics) exists: one query."""
    row = conn.execute(
        "select bool_and(to_regclass('analytics.' || name) is not null)"
        " from unnest(%s::text[]) as name",
        (list(marts),),
    ).fetchone()
    return bool(row and row[0])

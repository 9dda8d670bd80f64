"""Put data of known ages in place, and read back what retention left."""

from __future__ import annotations

import psycopg

from tests.helpers.db import scalar


def insert_tool_usage(
    conn: psycopg.Connection, count: int, age: str, prefix: str, success: bool = True
) -> None:
    """`count` tool_usage_logs rows dated `age` ago (a PostgreSQL interval), a minute apart."""
    conn.execute(
        """
        insert into tool_usage_logs (
            execution_id, bcp_name, tool_name, operation, duration_ms, success, "timestamp"
        )
        select %(prefix)s || g, 'bcp', 'tool', 'op', 10 + g, %(success)s,
               now() - %(age)s::interval - g * interval '1 minute'
        from generate_series(1, %(count)s) as g
        """,
        {"prefix": prefix, "age": age, "count": count, "success": success},
    )


def insert_requests(conn: psycopg.Connection, count: int, age: str, prefix: str) -> None:
    conn.execute(
        """
        insert into mcp_request_logs (
            request_id, method, path, response_status_code, duration_ms, success, "timestamp"
        )
        select %(prefix)s || g, 'POST', '/mcp', 200, 5, true,
               now() - %(age)s::interval - g * interval '1 minute'
        from generate_series(1, %(count)s) as g
        """,
        {"prefix": prefix, "age": age, "count": count},
    )


def insert_errors(
    conn: psycopg.Connection, count: int, age: str, resolved: bool | None, tag: str
) -> None:
    conn.execute(
        """
        insert into error_logs (level, message, resolved, category, "timestamp")
        select 'error', %(tag)s || ' ' || g, %(resolved)s, %(tag)s,
               now() - %(age)s::interval - g * interval '1 minute'
        from generate_series(1, %(count)s) as g
        """,
        {"tag": tag, "age": age, "count": count, "resolved": resolved},
    )


def make_user(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "insert into users (username, password_hash) values ('retention-test', 'x') returning id"
    ).fetchone()
    return row[0]


def insert_sessions(conn: psycopg.Connection, user_id: int, count: int, expired_ago: str, tag: str):
    """Sessions created a year ago that expired `expired_ago` ago (negative: still valid)."""
    conn.execute(
        """
        insert into sessions (id, user_id, token, created_at, expires_at)
        select %(tag)s || g, %(uid)s, md5(%(tag)s || g), now() - interval '1 year',
               now() - %(ago)s::interval
        from generate_series(1, %(count)s) as g
        """,
        {"tag": tag, "uid": user_id, "ago": expired_ago, "count": count},
    )


def table_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return bool(
        scalar(
            conn,
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s",
            (schema, name),
        )
    )


def month_partition(conn: psycopg.Connection, table: str, age: str) -> str:
    """Name of the monthly partition holding the instant `age` ago."""
    return scalar(
        conn,
        "select %s || '_' || to_char((now() - %s::interval) at time zone 'UTC', 'YYYY_MM')",
        (table, age),
    )


def retention_rows(conn: psycopg.Connection, dry_run: bool = False) -> dict[str, dict]:
    cur = conn.execute("select * from apply_retention(%s)", (dry_run,))
    names = [d.name for d in cur.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

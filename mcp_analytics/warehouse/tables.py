"""SQL helpers the assets and checks share: raw-table statistics and partition facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

#: The partitioned raw tables whose monthly partitions the orchestration keeps ahead.
PARTITIONED_TABLES = ("tool_usage_logs", "mcp_request_logs")
#: The raw tables of the seed (dbt sources add any others at load time).
CORE_RAW_TABLES = ("tool_usage_logs", "mcp_request_logs", "error_logs", "performance_metrics")


@dataclass(frozen=True)
class TableStats:
    table: str
    exists: bool
    row_count: int = 0
    newest: datetime | None = None
    oldest: datetime | None = None
    default_partition_rows: int | None = None  # None: not partitioned
    partitions: int | None = None


def _has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "select 1 from pg_attribute where attrelid = to_regclass(%s) and attname = %s"
        " and not attisdropped",
        (table, column),
    ).fetchone()
    return row is not None


def default_partition(conn: psycopg.Connection, table: str) -> str | None:
    """Qualified name of the DEFAULT partition of `table`, or None."""
    row = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname) from pg_inherits as i"
        " join pg_class as c on c.oid = i.inhrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where i.inhparent = to_regclass(%s) and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'",
        (table,),
    ).fetchone()
    return row[0] if row else None


def partition_count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(
        "select count(*) from pg_inherits where inhparent = to_regclass(%s)", (table,)
    ).fetchone()[0]


def default_partition_rows(conn: psycopg.Connection, table: str) -> int:
    name = default_partition(conn, table)
    if name is None:
        return 0
    schema, rel = name.split(".", 1)
    return conn.execute(
        sql.SQL("select count(*) from {}").format(sql.Identifier(schema.strip('"'), rel.strip('"')))
    ).fetchone()[0]


def table_stats(conn: psycopg.Connection, table: str) -> TableStats:
    if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
        return TableStats(table=table, exists=False)
    ident = sql.Identifier(table)
    if _has_column(conn, table, "timestamp"):
        count, newest, oldest = conn.execute(
            sql.SQL('select count(*), max("timestamp"), min("timestamp") from {}').format(ident)
        ).fetchone()
    else:
        count = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]
        newest = oldest = None
    partitioned = conn.execute(
        "select relkind = 'p' from pg_class where oid = to_regclass(%s)", (table,)
    ).fetchone()[0]
    return TableStats(
        table=table,
        exists=True,
        row_count=count,
        newest=newest,
        oldest=oldest,
        default_partition_rows=default_partition_rows(conn, table) if partitioned else None,
        partitions=partition_count(conn, table) if partitioned else None,
    )

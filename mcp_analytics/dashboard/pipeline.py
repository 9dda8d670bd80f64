"""The Pipeline page: freshness of each mart, the last dbt build, retention, partitions.

Read on the admin connection: the ledger, the policies and the catalog are not the analyst's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard.marts import MARTS
from mcp_analytics.warehouse.tables import default_partition_rows, partitioned_tables

#: the column that dates a mart's rows, by preference
_BUCKET_COLUMNS = ("hour", "day", "time_bucket")


@dataclass
class MartFreshness:
    name: str
    exists: bool
    rows: int = 0
    newest_bucket: datetime | None = None
    refreshed_at: datetime | None = None
    pending_buckets: int = 0
    oldest_pending: datetime | None = None


def _mart_tables(conn: psycopg.Connection) -> dict[str, str | None]:
    """Tables of schema analytics that dbt refreshes (they carry refreshed_at) -> their bucket
    column (None when they have none of _BUCKET_COLUMNS)."""
    rows = conn.execute(
        """
        select c.relname::text, array_agg(a.attname::text)
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'analytics' and c.relkind in ('r', 'p')
        group by c.relname
        having bool_or(a.attname = 'refreshed_at')
        """
    ).fetchall()
    return {
        name: next((c for c in _BUCKET_COLUMNS if c in columns), None) for name, columns in rows
    }


def freshness(conn: psycopg.Connection) -> list[MartFreshness]:
    """Rows, newest bucket, last refresh and dirty buckets waiting, per mart: the core marts
    (listed even before dbt builds them) and every other refreshed table of schema analytics."""
    pending = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "select mart, count(*), min(queued_at) from mart_dirty_buckets group by mart"
        ).fetchall()
    }
    tables = _mart_tables(conn)
    out = []
    for name in list(MARTS) + sorted(set(tables) - set(MARTS)):
        waiting, oldest = pending.get(name, (0, None))
        if name not in tables:
            out.append(MartFreshness(name, False, pending_buckets=waiting, oldest_pending=oldest))
            continue
        bucket = tables[name]
        query = sql.SQL("select count(*), {b}, max(refreshed_at) from analytics.{t}").format(
            b=sql.SQL("max({})").format(sql.Identifier(bucket)) if bucket else sql.SQL("null"),
            t=sql.Identifier(name),
        )
        found = conn.execute(query).fetchone() or (0, None, None)
        out.append(MartFreshness(name, True, found[0], found[1], found[2], waiting, oldest))
    return out


def last_build(target_dir: Path) -> dict[str, Any] | None:
    """The last dbt invocation's run_results.json: when, what command, per node status and
    seconds; None when dbt has not run from this checkout or state folder."""
    path = target_dir / "run_results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    nodes = [
        {
            "name": r["unique_id"].split(".")[-1],
            "kind": r["unique_id"].split(".")[0],
            "status": r.get("status"),
            "seconds": r.get("execution_time"),
        }
        for r in data.get("results", [])
    ]
    args = data.get("args", {})
    return {
        "generated_at": data.get("metadata", {}).get("generated_at"),
        "command": args.get("which") or args.get("invocation_command"),
        "elapsed": data.get("elapsed_time"),
        "nodes": nodes,
        "failures": sum(1 for n in nodes if n["status"] not in ("success", "pass")),
    }


def retention_policies(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every retention policy with its last cleanup and who last changed it."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        """
        select p.table_name, p.retention_days, p.archive_before_delete, p.cleanup_enabled,
               p.last_cleanup, p.last_cleanup_count, p.last_cleanup_duration_ms,
               p.cleanup_batch_size, p.cleanup_interval_hours, p.time_column,
               p.updated_at, u.username as updated_by
        from data_retention_policies as p left join users as u on u.id = p.updated_by
        order by p.table_name
        """
    ).fetchall()


def partitions(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Per partitioned raw table: its partitions (bounds, estimated rows) and the rows waiting
    in its DEFAULT partition (counted exactly; partition upkeep should keep it empty)."""
    out = []
    cur = conn.cursor(row_factory=dict_row)
    for table in partitioned_tables():
        parts = cur.execute(
            """
            select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound,
                   greatest(c.reltuples, 0)::bigint as estimated_rows,
                   pg_total_relation_size(c.oid) as bytes
            from pg_inherits as i join pg_class as c on c.oid = i.inhrelid
            where i.inhparent = to_regclass(%s)
            order by pg_get_expr(c.relpartbound, c.oid)
            """,
            (table.qualified_name,),
        ).fetchall()
        out.append(
            {
                "table": table.name,
                "partitions": parts,
                "default_rows": default_partition_rows(conn, table.qualified_name),
            }
        )
    return out


def archive_pending(conn: psycopg.Connection) -> int:
    """Archive tables written by retention and not yet exported to Parquet."""
    row = conn.execute(
        "select count(*) from archive.archived_partitions where exported_at is null"
    ).fetchone()
    return int(row[0]) if row else 0

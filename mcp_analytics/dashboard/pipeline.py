"""The Pipeline page: freshness of each mart, the last dbt build, retention, partitions.

Read on the admin connection: the ledger, the policies and the catalog are not the analyst's.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard.cache import CACHE
from mcp_analytics.dashboard.marts import MARTS
from mcp_analytics.warehouse.tables import partitioned_tables

#: the column that dates a mart's rows, by preference
_BUCKET_COLUMNS = ("hour", "day", "time_bucket")


@dataclass
class MartFreshness:
    name: str
    exists: bool
    rows: int = 0
    #: whether `rows` is the planner's estimate (a large mart), not a count
    rows_estimated: bool = False
    newest_bucket: datetime | None = None
    refreshed_at: datetime | None = None
    pending_buckets: int = 0
    oldest_pending: datetime | None = None


def _mart_tables(
    conn: psycopg.Connection,
) -> dict[str, tuple[str | None, float, int, tuple]]:
    """Tables of schema analytics that dbt refreshes (they carry refreshed_at) -> (their bucket
    column, None when they have none of _BUCKET_COLUMNS; the planner's estimate of their rows,
    negative when never analyzed; the bytes of their heap now, `pg_relation_size`; what
    PostgreSQL's statistics say was written to them: the file, inserts, updates, deletes)."""
    rows = conn.execute(
        """
        select c.relname::text, array_agg(a.attname::text), c.reltuples::float8,
               pg_relation_size(c.oid), c.relfilenode, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        left join pg_stat_all_tables as s on s.relid = c.oid
        where n.nspname = 'analytics' and c.relkind in ('r', 'p')
        group by c.oid, c.relname, c.reltuples, c.relfilenode, s.n_tup_ins, s.n_tup_upd,
                 s.n_tup_del
        having bool_or(a.attname = 'refreshed_at')
        """
    ).fetchall()
    return {
        name: (
            next((c for c in _BUCKET_COLUMNS if c in columns), None),
            estimate,
            size,
            tuple(written),
        )
        for name, columns, estimate, size, *written in rows
    }


#: From this many bytes of heap a mart's rows are the planner's estimate, not a count: a count
#: reads every page, and the hourly marts grow with the days kept and the calls per hour (the
#: hourly tool summary's rows carry packed histograms: 29 MB for 34,000 rows at 3 M calls over
#: 60 days). Counting them made the page's first view after a start, when they are no longer
#: in shared buffers, grow with the history (bench_growth, 1 M -> 10 M calls). 8 MiB counts in
#: a few milliseconds.
ESTIMATE_FROM_BYTES = 8 * 1024 * 1024


def _mart_rows(
    conn: psycopg.Connection, name: str, bucket: str | None, estimate: float, size: int
) -> tuple[int, bool, datetime | None, datetime | None]:
    """(rows, whether that is the planner's estimate, newest bucket, last refresh) of one mart.

    Below ESTIMATE_FROM_BYTES of heap, without a bucket column, or never analyzed: a scan of
    the table. From it: the estimate, the newest bucket from the index every bucketed mart
    leads with, and the last refresh from public.mart_refreshes (bootstrap 125: when the mart
    last rebuilt any bucket, in the transaction that wrote those rows' refreshed_at; a scan
    when it has no row for the mart, before the mart's first rebuild since that file)."""
    table = sql.Identifier(name)
    if bucket is None or estimate < 0 or size < ESTIMATE_FROM_BYTES:
        query = sql.SQL("select count(*), {b}, max(refreshed_at) from analytics.{t}").format(
            b=sql.SQL("max({})").format(sql.Identifier(bucket)) if bucket else sql.SQL("null"),
            t=table,
        )
        found = conn.execute(query).fetchone()
        return (found[0], False, found[1], found[2]) if found else (0, False, None, None)
    query = sql.SQL(
        "select (select max({b}) from analytics.{t}),"
        " coalesce((select refreshed_at from mart_refreshes where mart = %s),"
        " (select max(refreshed_at) from analytics.{t}))"
    ).format(b=sql.Identifier(bucket), t=table)
    found = conn.execute(query, (name,)).fetchone()
    return (round(estimate), True, found[0], found[1]) if found else (0, True, None, None)


def freshness(conn: psycopg.Connection) -> list[MartFreshness]:
    """Rows, newest bucket, last refresh and dirty buckets waiting, per mart: the core marts
    (listed even before dbt builds them) and every other refreshed table of schema analytics.
    A mart's rows are counted (a scan; the planner's estimate from ESTIMATE_FROM_BYTES) again
    only when PostgreSQL's statistics show it written since (they are up to date once the
    writing session ends: after every dbt run)."""
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
        bucket, estimate, size, written = tables[name]
        rows, estimated, newest, refreshed = CACHE.keep(
            conn,
            ("mart_rows", name),
            written,
            partial(_mart_rows, conn, name, bucket, estimate, size),
        )
        out.append(MartFreshness(name, True, rows, estimated, newest, refreshed, waiting, oldest))
    return out


#: Run results read already: (path, modification time in ns, size) -> the database they are
#: of (None: none of their nodes names a relation) and what the page shows of them (not the
#: whole file: it holds every node's compiled SQL), so a page view parses a file once.
_RESULTS_DATABASE: dict[tuple[Path, int, int], tuple[str | None, dict[str, Any]]] = {}
_MAX_CACHED = 64
_RESULTS_LOCK = threading.Lock()


def results_database(data: dict[str, Any]) -> str | None:
    """The database a dbt run_results.json was built in: the first part of its nodes'
    `relation_name` (`"db"."schema"."table"`); None when no node names a relation (a run of
    tests or operations only)."""
    for result in data.get("results", []):
        relation = result.get("relation_name")
        if relation and relation.startswith('"'):
            return relation[1:].split('"', 1)[0].replace('""', '"')
        if relation:
            return relation.split(".", 1)[0]
    return None


def _run_results(path: Path) -> tuple[str | None, dict[str, Any]] | None:
    try:
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        with _RESULTS_LOCK:  # pages are served from several threads
            found = _RESULTS_DATABASE.get(key)
        if found is None:
            data = json.loads(path.read_text())
            found = (results_database(data), _describe(data))
            with _RESULTS_LOCK:
                # one entry per file, and a bound for the folders pruned since
                for old in [k for k in _RESULTS_DATABASE if k[0] == path]:
                    del _RESULTS_DATABASE[old]
                if len(_RESULTS_DATABASE) >= _MAX_CACHED:
                    _RESULTS_DATABASE.clear()
                _RESULTS_DATABASE[key] = found
        return found
    except (OSError, ValueError):
        return None


def last_build(target_dir: Path, database: str) -> dict[str, Any] | None:
    """The newest dbt invocation of `database` whose run_results.json is in `target_dir`
    (`mcp-analytics build`'s) or one of its invocation folders (Dagster's): when, what
    command, per node status and seconds. None when none is of `database`: the target folder
    of a checkout is shared by every database built from it, so results whose relations are
    in another database are never shown (two servers' databases of the same name cannot be
    told apart)."""
    paths = [target_dir / "run_results.json", *target_dir.glob("*/run_results.json")]
    dated = []
    for path in paths:
        try:
            dated.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    for _, path in sorted(dated, reverse=True):
        found = _run_results(path)
        if found is not None and found[0] == database:
            return found[1]
    return None


def _describe(data: dict[str, Any]) -> dict[str, Any]:
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
    """Per partitioned raw table: its partitions (bounds, estimated rows and bytes) and the
    rows waiting in its DEFAULT partition (counted exactly; partition upkeep should keep it
    empty). Two queries whatever the number of tables."""
    tables = partitioned_tables()
    cur = conn.cursor(row_factory=dict_row)
    found = cur.execute(
        """
        select t.ord, c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound,
               greatest(c.reltuples, 0)::bigint as estimated_rows,
               -- the catalog's page counts (as of the last vacuum or analyze, like reltuples):
               -- a stat() of every file of every partition cost more than the rest of the page
               (c.relpages + coalesce(toast.relpages, 0)
                + (select coalesce(sum(ic.relpages), 0) from pg_index as x
                   join pg_class as ic on ic.oid = x.indexrelid where x.indrelid = c.oid))::bigint
               * current_setting('block_size')::bigint as bytes,
               format('%%I.%%I', n.nspname, c.relname) as qualified
        from unnest(%s::text[]) with ordinality as t (name, ord)
        join pg_inherits as i on i.inhparent = to_regclass(t.name)
        join pg_class as c on c.oid = i.inhrelid
        join pg_namespace as n on n.oid = c.relnamespace
        left join pg_class as toast on toast.oid = c.reltoastrelid
        order by t.ord, pg_get_expr(c.relpartbound, c.oid)
        """,
        ([t.qualified_name for t in tables],),
    ).fetchall()
    per_table: dict[int, list[dict[str, Any]]] = {}
    defaults: dict[int, str] = {}
    for part in found:
        ord_, qualified = part.pop("ord"), part.pop("qualified")
        per_table.setdefault(ord_, []).append(part)
        if part["bound"] == "DEFAULT":
            defaults[ord_] = qualified
    waiting: dict[int, int] = {}
    if defaults:
        counts = sql.SQL(" union all ").join(
            sql.SQL("select {}, count(*) from {}").format(sql.Literal(ord_), sql.SQL(name))
            for ord_, name in defaults.items()
        )
        waiting = {ord_: int(n) for ord_, n in conn.execute(counts).fetchall()}
    return [
        {
            "table": table.name,
            "partitions": per_table.get(i, []),
            "default_rows": waiting.get(i, 0),
        }
        for i, table in enumerate(tables, start=1)
    ]


def archive_pending(conn: psycopg.Connection) -> int:
    """Archive tables written by retention and not yet exported to Parquet."""
    row = conn.execute(
        "select count(*) from archive.archived_partitions where exported_at is null"
    ).fetchone()
    return int(row[0]) if row else 0

"""Page results kept until the mart rows they were computed from change.

A page of the last 30 days merges some 200,000 histogram entries; auto-refresh asks for it
again every few seconds while the marts change once per build. A result is stored under its
inputs and a version of its mart rows, `(count(*), max(refreshed_at))` over the window: dbt
stamps every row it rebuilds with refreshed_at = now(), and retention deleting rows changes the
count, so any change to those rows gives a new version and a fresh computation. Checking the
version costs one index-range count, no jsonb.

Below the page results, the mart rows themselves are kept per bucket (an hour or a day) under
the same kind of version per bucket: a page computed again after a build reads from the
database only the buckets the build rebuilt, not the window's 200,000 histogram entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

T = TypeVar("T")

#: (mart table in schema analytics, its bucket column, start, end)
Source = tuple[str, str, datetime, datetime]


def _version(conn: psycopg.Connection, sources: Sequence[Source]) -> tuple:
    parts = [
        sql.SQL(
            "select count(*), max(refreshed_at) from analytics.{t} where {c} >= %s and {c} < %s"
        ).format(t=sql.Identifier(table), c=sql.Identifier(column))
        for table, column, _, _ in sources
    ]
    params: list[Any] = []
    for _, _, start, end in sources:
        params += [start, end]
    rows = conn.execute(sql.SQL(" union all ").join(parts), params).fetchall()
    return tuple(tuple(r) for r in rows)


def written(conn: psycopg.Connection, table: str) -> tuple:
    """What PostgreSQL's statistics say was written to analytics.`table`, without reading its
    rows: (its file, inserts, updates, deletes). Up to date once the writing session ends
    (statistics are flushed then, and at most a second after a transaction of a session that
    stays open); readable by every role."""
    row = conn.execute(
        "select c.relfilenode, s.n_tup_ins, s.n_tup_upd, s.n_tup_del"
        " from pg_class as c left join pg_stat_all_tables as s on s.relid = c.oid"
        " where c.oid = to_regclass(%s)",
        (f"analytics.{table}",),
    ).fetchone()
    return tuple(row) if row else ()


class MartCache:
    """A bounded, thread-safe cache of page results per database, and of mart rows per bucket.

    Attributes:
        enabled: False computes every time from rows read again (benchmarks measure both).
        size: page results kept at most.
        max_rows: mart rows kept at most (the least recently used buckets go first).
        max_derived: values derived per bucket kept at most.
    """

    def __init__(self, size: int = 256, max_rows: int = 50_000, max_derived: int = 20_000) -> None:
        self.size = size
        self.max_rows = max_rows
        self.enabled = True
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        # (database, table, select list, bucket) -> (version, rows): see _bucket_rows()
        self._buckets: OrderedDict[tuple, tuple[Any, list[tuple]]] = OrderedDict()
        # (database, table, select list), name, bucket -> (version, value): see per_bucket()
        self._derived: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self.max_derived = max_derived
        self._kept_rows = 0
        self._lock = threading.Lock()

    def get(
        self,
        conn: psycopg.Connection,
        key: Hashable,
        sources: Sequence[Source],
        compute: Callable[[], T],
        whole: Sequence[str] = (),
    ) -> T:
        """`compute()`'s result for `key`, reused while the rows of `sources` are unchanged and
        nothing is written to the marts named in `whole` (their statistics, `written`: for a
        mart whose rows of the window are too many to count on every view)."""
        if not self.enabled:
            return compute()
        version = (_version(conn, sources), tuple(written(conn, t) for t in whole))
        return self.keep(conn, key, version, compute)

    def keep(
        self, conn: psycopg.Connection, key: Hashable, version: Hashable, compute: Callable[[], T]
    ) -> T:
        """`compute()`'s result for `key` on `conn`'s database, reused while `version` (what
        the caller read of its inputs' state) is the same."""
        if not self.enabled:
            return compute()
        info = conn.info
        full = (info.host, info.port, info.dbname, key, version)
        with self._lock:
            if full in self._data:
                self._data.move_to_end(full)
                return self._data[full]
        value = compute()
        with self._lock:
            self._data[full] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def _bucket_rows(
        self,
        conn: psycopg.Connection,
        source: Source,
        columns: sql.Composable,
        group: sql.Composable | None = None,
    ) -> tuple[tuple, dict[datetime, tuple[Any, list[tuple]]]]:
        """(where the rows come from, {bucket: (version, rows)}) of the window: the rows of
        analytics.`table` whose `column` (an hour or a day) is in [start, end) (`source`), as
        `columns` (a select list whose first column is `column`, grouped by `group` when
        given), kept per bucket with its version (count and max(refreshed_at) of its rows) and
        fetched again only for the buckets that changed: after an hourly build, the rebuilt
        hour or day."""
        table, column, start, end = source
        col, tab = sql.Identifier(column), sql.Identifier(table)
        info = conn.info
        grouped = sql.SQL(" group by {}").format(group) if group is not None else sql.SQL("")
        where = (
            info.host,
            info.port,
            info.dbname,
            table,
            sql.Composed([columns, grouped]).as_string(conn),
        )
        if not self.enabled:
            query = sql.SQL("select {} from analytics.{} where {} >= %s and {} < %s{}").format(
                columns, tab, col, col, grouped
            )
            fresh: dict[datetime, tuple[Any, list[tuple]]] = {}
            for row in conn.execute(query, (start, end)):
                fresh.setdefault(row[0], (None, []))[1].append(row)
            return where, fresh
        versions = conn.execute(
            sql.SQL(
                "select {}, count(*), max(refreshed_at) from analytics.{}"
                " where {} >= %s and {} < %s group by 1"
            ).format(col, tab, col, col),
            (start, end),
        ).fetchall()
        out: dict[datetime, tuple[Any, list[tuple]]] = {}
        missing: dict[datetime, tuple] = {}
        with self._lock:
            for bucket, count, refreshed in versions:
                kept = self._buckets.get((where, bucket))
                if kept is not None and kept[0] == (count, refreshed):
                    self._buckets.move_to_end((where, bucket))
                    out[bucket] = kept
                else:
                    missing[bucket] = (count, refreshed)
        if missing:
            fetched: dict[datetime, list[tuple]] = {b: [] for b in missing}
            query = sql.SQL("select {} from analytics.{} where {} = any(%s){}").format(
                columns, tab, col, grouped
            )
            for row in conn.execute(query, (list(missing),)):
                fetched.setdefault(row[0], []).append(row)
            with self._lock:
                for bucket, found in fetched.items():
                    entry = (missing.get(bucket), found)
                    old = self._buckets.pop((where, bucket), None)
                    if old is not None:
                        self._kept_rows -= len(old[1])
                    self._buckets[(where, bucket)] = entry
                    self._kept_rows += len(found)
                    out[bucket] = entry
                while self._kept_rows > self.max_rows and self._buckets:
                    _, (_, dropped) = self._buckets.popitem(last=False)
                    self._kept_rows -= len(dropped)
        return where, out

    def per_bucket(
        self,
        conn: psycopg.Connection,
        source: Source,
        columns: sql.Composable,
        name: str,
        derive: Callable[[list[tuple]], T],
        group: sql.Composable | None = None,
    ) -> dict[datetime, T]:
        """{bucket: derive(its rows)} of the window (rows as in _bucket_rows(); with `group`, the
        select list's aggregates grouped by it, which must start with the bucket column); each
        value is kept under `name` with its bucket's version, so only changed buckets are read
        and derived again.

        Raises:
            psycopg.Error: the mart cannot be read.
        """
        where, buckets = self._bucket_rows(conn, source, columns, group)
        out: dict[datetime, T] = {}
        for bucket, (version, rows) in buckets.items():
            key = (where, name, bucket)
            with self._lock:
                kept = self._derived.get(key) if version is not None else None
            if kept is not None and kept[0] == version:
                out[bucket] = kept[1]
                continue
            out[bucket] = value = derive(rows)
            if version is not None:
                with self._lock:
                    self._derived[key] = (version, value)
                    self._derived.move_to_end(key)
                    while len(self._derived) > self.max_derived:
                        self._derived.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._buckets.clear()
            self._derived.clear()
            self._kept_rows = 0


CACHE = MartCache()

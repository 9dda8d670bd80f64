"""Page results kept until the mart rows they were computed from change.

A page of the last 30 days merges some 200,000 histogram entries; auto-refresh asks for it
again every few seconds while the marts change once per build. A result is stored under its
inputs and a version of its mart rows, `(count(*), max(refreshed_at))` over the window: dbt
stamps every row it rebuilds with refreshed_at = now(), and retention deleting rows changes the
count, so any change to those rows gives a new version and a fresh computation. Checking the
version costs one index-range count, no jsonb.
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


class MartCache:
    """A bounded, thread-safe cache of page results per database.

    Attributes:
        enabled: False computes every time (benchmarks measure both).
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.enabled = True
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        conn: psycopg.Connection,
        key: Hashable,
        sources: Sequence[Source],
        compute: Callable[[], T],
    ) -> T:
        """`compute()`'s result for `key`, reused while the rows of `sources` are unchanged."""
        if not self.enabled:
            return compute()
        info = conn.info
        full = (info.host, info.port, info.dbname, key, _version(conn, sources))
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

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


CACHE = MartCache()

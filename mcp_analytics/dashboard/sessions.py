"""Sessions across the protocol's spec break, per server and session definition.

Read from `analytics.daily_session_summary` (per UTC day of a session's start, server and
definition: sessions, operations, one-call sessions, sessions continuing the next day, and
per-day percentiles of operations per session and duration) and `analytics.mcp_sessions` (one
row per session). Counts are sums of the mart's columns; a day's percentile cannot be added
across days, so a window shows the highest daily p95 and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard import catalog
from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.clients import window_days
from mcp_analytics.dashboard.ratios import Ratio
from mcp_analytics.dashboard.windows import Window

#: filter key in the URL -> column of the marts
FILTERS = {"bcp": "bcp_name", "definition": "session_definition"}

_DAYS = """
select day, bcp_name, session_definition, sessions, operations, single_operation_sessions,
       sessions_continuing_next_day, p95_operations_per_session, max_operations_per_session,
       p95_session_duration_seconds, max_session_duration_seconds
from analytics.daily_session_summary
where day >= %(first_day)s and day < %(end)s {filters}
order by day, bcp_name, session_definition
"""

# The longest sessions: read in the order of the index on (duration_ms desc nulls last,
# started_at, stream_key), the scan stops at the limit instead of sorting every session of the
# window. The planner takes that path when it knows the window's bounds: the first day is a
# value (not date_trunc of one) and the queries are never prepared (prepare=False), since a
# generic plan guesses a range's rows (0.5 %) and reads then sorts every session of the window.

_LONGEST = """
select day, bcp_name, session_definition, session_id, client_name, client_version,
       protocol_version, started_at, ended_at, operations, duration_ms
from analytics.mcp_sessions
where day >= %(first_day)s and day < %(end)s {filters}
order by duration_ms desc nulls last, started_at, stream_key
limit %(limit)s
"""


@dataclass
class SessionGroup:
    """Sums of daily_session_summary rows of one group (a server and definition, or all)."""

    bcp_name: str | None = None
    definition: str | None = None
    sessions: int = 0
    operations: int = 0
    single_operation_sessions: int = 0
    continuing_next_day: int = 0
    #: highest daily p95 (a p95 cannot be added across days) and the maxima
    max_daily_p95_operations: float | None = None
    max_operations: int | None = None
    max_daily_p95_duration_s: float | None = None
    max_duration_s: float | None = None
    days: int = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.sessions += row["sessions"]
        self.operations += row["operations"]
        self.single_operation_sessions += row["single_operation_sessions"]
        self.continuing_next_day += row["sessions_continuing_next_day"]
        self.days += 1
        for attr, column in (
            ("max_daily_p95_operations", "p95_operations_per_session"),
            ("max_operations", "max_operations_per_session"),
            ("max_daily_p95_duration_s", "p95_session_duration_seconds"),
            ("max_duration_s", "max_session_duration_seconds"),
        ):
            value, kept = row[column], getattr(self, attr)
            if value is not None and (kept is None or value > kept):
                setattr(self, attr, value)

    operations_per_session = Ratio("operations", "sessions")
    single_share = Ratio("single_operation_sessions", "sessions")


@dataclass
class Sessions:
    """daily_session_summary over a window's days.

    Attributes:
        days: the UTC days the window touches.
        total: sums over every row.
        groups: per server and definition, most sessions first.
        series: definition -> sessions per day of `days`.
        rows: the mart's rows, oldest first.
        longest: the longest sessions of the window (rows of mcp_sessions).
    """

    days: list[datetime]
    total: SessionGroup
    groups: list[SessionGroup]
    series: dict[str, list[int]]
    rows: list[dict[str, Any]]
    longest: list[dict[str, Any]] = field(default_factory=list)


def built(conn: psycopg.Connection) -> bool:
    """Whether dbt has built both session marts."""
    return catalog.built(conn, "daily_session_summary", "mcp_sessions")


def _filters(filters: tuple[tuple[str, str], ...]) -> tuple[sql.Composable, dict[str, str]]:
    parts: list[sql.Composable] = []
    params: dict[str, str] = {}
    for key, value in filters:
        parts.append(
            sql.SQL(" and {} = {}").format(
                sql.Identifier(FILTERS[key]), sql.Placeholder(f"f_{key}")
            )
        )
        params[f"f_{key}"] = value
    return sql.Composed(parts), params


def _sessions(
    conn: psycopg.Connection, window: Window, filters: tuple[tuple[str, str], ...], longest: int
) -> Sessions:
    conditions, params = _filters(filters)
    days = window_days(window)
    base = {"first_day": days[0], "end": window.end, **params}
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(sql.SQL(_DAYS).format(filters=conditions), base, prepare=False).fetchall()
    index = {d: i for i, d in enumerate(days)}
    total = SessionGroup()
    groups: dict[tuple[str, str], SessionGroup] = {}
    series: dict[str, list[int]] = {}
    for r in rows:
        total.add(r)
        key = (r["bcp_name"], r["session_definition"])
        group = groups.get(key)
        if group is None:
            groups[key] = group = SessionGroup(*key)
        group.add(r)
        per_day = series.setdefault(r["session_definition"], [0] * len(days))
        if r["day"] in index:
            per_day[index[r["day"]]] += r["sessions"]
    top = cur.execute(
        sql.SQL(_LONGEST).format(filters=conditions), {**base, "limit": longest}, prepare=False
    ).fetchall()
    return Sessions(
        days=days,
        total=total,
        groups=sorted(groups.values(), key=lambda g: (-g.sessions, g.bcp_name or "")),
        series=dict(sorted(series.items())),
        rows=rows,
        longest=top,
    )


def sessions(
    conn: psycopg.Connection,
    window: Window,
    params: Mapping[str, str] | None = None,
    longest: int = 20,
) -> Sessions | None:
    """Sessions of the window's days, narrowed by the `FILTERS` keys found in `params`; None
    when the marts are not built. Cached until their rows change."""
    if not built(conn):
        return None
    filters = tuple((k, params[k]) for k in FILTERS if params and params.get(k))
    first = window_days(window)[0]
    sources: list[Source] = [("daily_session_summary", "day", first, window.end)]
    key = ("sessions", window, filters, longest)
    # mcp_sessions' rows are not counted for the version: 30 days of them are ~700,000 at 10 M
    # calls (bench_growth), ~100 ms on every view. A build that changes them rebuilds the same
    # days of daily_session_summary (its ledger source), whose rows are counted; retention
    # removing them shows in the table's statistics.
    return CACHE.get(
        conn,
        key,
        sources,
        lambda: _sessions(conn, window, filters, longest),
        whole=("mcp_sessions",),
    )

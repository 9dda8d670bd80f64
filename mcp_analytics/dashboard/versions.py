"""Tool calls by server version (release), and the releases that made a tool worse.

Read from `analytics.daily_tool_version_summary` (per UTC day, server, tool and server version
— `tool_version`, OTLP's `service.version` — with calls, errors by class and a latency
histogram) and `analytics.tool_regressions` (the tools whose newest release, or whose last
week, is worse than the one before, by the rule in docs/analytics.md). Counts are sums of the
mart's columns; a group's percentiles merge its rows' histograms and are read as
`mart_hist_quantiles` reads them (`histograms.quantiles`), so they equal the documented SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.clients import label, window_days
from mcp_analytics.dashboard.histograms import quantiles
from mcp_analytics.dashboard.windows import Window

QUANTILES = (0.5, 0.95, 0.99)

_ROWS = """
select day, bcp_name, tool_name, tool_version, total_calls, failed_calls, tool_error_calls,
       caller_error_calls, server_error_calls, transport_error_calls, duration_histogram,
       first_called_at, last_called_at
from analytics.daily_tool_version_summary
where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s {filters}
"""

_REGRESSIONS = """
select comparison, bcp_name, tool_name, metric, version, previous_version, before_value,
       after_value, ratio, p_value, threshold, calls_before, calls_after, as_of
from analytics.tool_regressions
where (%(bcp)s::text is null or bcp_name = %(bcp)s)
  and (%(tool)s::text is null or tool_name = %(tool)s)
order by comparison, bcp_name, tool_name, metric
"""


@dataclass
class Release:
    """Calls of one group (a server's version, or a tool's) over the window's days."""

    bcp_name: str
    version: str
    tool_name: str | None = None
    calls: int = 0
    errors: int = 0
    caller_errors: int = 0
    first_called_at: datetime | None = None
    last_called_at: datetime | None = None
    tools: set[str] = field(default_factory=set)
    _histogram: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        self.calls += row["total_calls"]
        self.errors += row["failed_calls"]
        self.caller_errors += row["caller_error_calls"]
        self.tools.add(row["tool_name"])
        first, last = row["first_called_at"], row["last_called_at"]
        if first is not None and (self.first_called_at is None or first < self.first_called_at):
            self.first_called_at = first
        if last is not None and (self.last_called_at is None or last > self.last_called_at):
            self.last_called_at = last
        histogram = row["duration_histogram"]
        if histogram:
            into = self._histogram
            for index, count in histogram.items():
                into[index] = into.get(index, 0) + count

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None

    @property
    def server_fault_rate(self) -> float | None:
        """Tool, server and transport errors per call, caller errors counted neither as
        failures nor as calls (as the regressions and the error budget count)."""
        eligible = self.calls - self.caller_errors
        return (self.errors - self.caller_errors) / eligible if eligible else None

    def quantiles(self) -> list[float | None]:
        """p50, p95, p99 of the group's merged histogram (ms)."""
        return quantiles({int(i): n for i, n in self._histogram.items()}, QUANTILES)


@dataclass
class Versions:
    """daily_tool_version_summary over a window's days.

    Attributes:
        days: the UTC days the window touches.
        releases: per (server, version): its calls over every tool, newest first per server.
        by_tool: per (server, tool, version), newest first per tool.
        series: per server, version -> calls per day of `days`.
    """

    days: list[datetime]
    releases: list[Release]
    by_tool: list[Release]
    series: dict[str, dict[str, list[int]]]


def built(conn: psycopg.Connection) -> bool:
    """Whether dbt has built analytics.daily_tool_version_summary."""
    row = conn.execute("select to_regclass('analytics.daily_tool_version_summary')").fetchone()
    return bool(row and row[0] is not None)


_NEVER = datetime.min.replace(tzinfo=UTC)


def _newest_first(groups: dict[Any, Release]) -> list[Release]:
    # a server's (a tool's) versions newest first: by their last call, then first call
    ordered = sorted(
        groups.values(),
        key=lambda r: (r.last_called_at or _NEVER, r.first_called_at or _NEVER),
        reverse=True,
    )
    return sorted(ordered, key=lambda r: (r.bcp_name, r.tool_name or ""))


def _versions(
    conn: psycopg.Connection, window: Window, bcp: str | None, tool: str | None
) -> Versions:
    filters: list[sql.Composable] = []
    if bcp is not None:
        filters.append(sql.SQL(" and bcp_name = %(bcp)s"))
    if tool is not None:
        filters.append(sql.SQL(" and tool_name = %(tool)s"))
    query = sql.SQL(_ROWS).format(filters=sql.Composed(filters))
    params = {"start": window.start, "end": window.end, "bcp": bcp, "tool": tool}
    rows = conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
    days = window_days(window)
    index = {d: i for i, d in enumerate(days)}
    releases: dict[tuple[str, str], Release] = {}
    by_tool: dict[tuple[str, str, str], Release] = {}
    series: dict[str, dict[str, list[int]]] = {}
    for r in rows:
        version = label(r["tool_version"])
        key = (r["bcp_name"], version)
        release = releases.get(key)
        if release is None:
            releases[key] = release = Release(r["bcp_name"], version)
        release.add(r)
        tool_key = (r["bcp_name"], r["tool_name"], version)
        per_tool = by_tool.get(tool_key)
        if per_tool is None:
            by_tool[tool_key] = per_tool = Release(r["bcp_name"], version, r["tool_name"])
        per_tool.add(r)
        calls = series.setdefault(r["bcp_name"], {}).setdefault(version, [0] * len(days))
        if r["day"] in index:
            calls[index[r["day"]]] += r["total_calls"]
    ordered = _newest_first(releases)
    # each server's series in the order of its versions, newest first
    rank = {(r.bcp_name, r.version): i for i, r in enumerate(ordered)}
    return Versions(
        days=days,
        releases=ordered,
        by_tool=_newest_first(by_tool),
        series={
            server: dict(sorted(s.items(), key=lambda kv: rank[(server, kv[0])]))
            for server, s in sorted(series.items())
        },
    )


def versions(
    conn: psycopg.Connection, window: Window, bcp: str | None = None, tool: str | None = None
) -> Versions | None:
    """Calls by server version over the window's days, of one server and one tool when given;
    None when the mart is not built. Cached until its rows change."""
    if not built(conn):
        return None
    days = window_days(window)
    source: Source = ("daily_tool_version_summary", "day", days[0], window.end)
    key = ("versions", window, bcp, tool)
    return CACHE.get(conn, key, [source], lambda: _versions(conn, window, bcp, tool))


def regressions(
    conn: psycopg.Connection, bcp: str | None = None, tool: str | None = None
) -> list[dict[str, Any]] | None:
    """Rows of analytics.tool_regressions (of one server and tool when given); None when the
    mart is not built."""
    row = conn.execute("select to_regclass('analytics.tool_regressions')").fetchone()
    if not row or row[0] is None:
        return None
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(_REGRESSIONS, {"bcp": bcp, "tool": tool}).fetchall()

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

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.clients import label, window_days
from mcp_analytics.dashboard.histograms import quantiles
from mcp_analytics.dashboard.windows import Window

QUANTILES = (0.5, 0.95, 0.99)

#: What the page reads of a row of daily_tool_version_summary (the day first: rows are kept per
#: day by the cache), as the tuples `Release.add` takes; the histogram as JSON text.
_COLUMNS = (
    "day, bcp_name, tool_name, tool_version, total_calls, failed_calls, caller_error_calls,"
    " duration_histogram::text, first_called_at, last_called_at"
)

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

    def add(self, row: tuple) -> None:
        """Add a row of `_COLUMNS`."""
        self.calls += row[4]
        self.errors += row[5]
        self.caller_errors += row[6]
        self.tools.add(row[2])
        self._times(row[8], row[9])
        if row[7]:
            self._merge(orjson.loads(row[7]))

    def absorb(self, other: Release) -> None:
        """Add another group's calls (its histogram merged)."""
        self.calls += other.calls
        self.errors += other.errors
        self.caller_errors += other.caller_errors
        self.tools |= other.tools
        self._times(other.first_called_at, other.last_called_at)
        self._merge(other._histogram)

    def _times(self, first: datetime | None, last: datetime | None) -> None:
        if first is not None and (self.first_called_at is None or first < self.first_called_at):
            self.first_called_at = first
        if last is not None and (self.last_called_at is None or last > self.last_called_at):
            self.last_called_at = last

    def _merge(self, histogram: dict[str, int]) -> None:
        into = self._histogram
        get = into.get
        for index, count in histogram.items():
            into[index] = get(index, 0) + count

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


def _per_tool_version(rows: list[tuple]) -> dict[tuple[str, str, str], Release]:
    """{(bcp_name, tool_name, version): Release} of one day's rows."""
    out: dict[tuple[str, str, str], Release] = {}
    for row in rows:
        version = label(row[3])
        key = (row[1], row[2], version)
        group = out.get(key)
        if group is None:
            out[key] = group = Release(row[1], version, row[2])
        group.add(row)
    return out


def _versions(
    conn: psycopg.Connection, window: Window, bcp: str | None, tool: str | None
) -> Versions:
    days = window_days(window)
    # each day's per-tool groups are kept with its rows: a build re-derives only its days
    per_day = CACHE.per_bucket(
        conn,
        "daily_tool_version_summary",
        "day",
        days[0],
        window.end,
        sql.SQL(_COLUMNS),
        "per_tool_version",
        _per_tool_version,
    )
    index = {d: i for i, d in enumerate(days)}
    releases: dict[tuple[str, str], Release] = {}
    by_tool: dict[tuple[str, str, str], Release] = {}
    series: dict[str, dict[str, list[int]]] = {}
    for day, groups in per_day.items():
        for (server, name, version), group in groups.items():
            if (bcp is not None and server != bcp) or (tool is not None and name != tool):
                continue
            release = releases.get((server, version))
            if release is None:
                releases[(server, version)] = release = Release(server, version)
            release.absorb(group)
            per_tool = by_tool.get((server, name, version))
            if per_tool is None:
                by_tool[(server, name, version)] = per_tool = Release(server, version, name)
            per_tool.absorb(group)
            calls = series.setdefault(server, {}).setdefault(version, [0] * len(days))
            if day in index:
                calls[index[day]] += group.calls
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

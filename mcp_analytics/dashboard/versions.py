"""Tool calls by server version (release), and the releases that made a tool worse.

Read from `analytics.daily_tool_version_summary` (per UTC day, server, tool and server version
— `tool_version`, OTLP's `service.version` — with calls, errors by class and a latency
histogram) and `analytics.tool_regressions` (the tools whose newest release, or whose last
week, is worse than the one before, by the rule in docs/analytics.md). Counts are sums of the
mart's columns; a group's histogram is the sum of its rows' packed histograms, added up by
PostgreSQL, and its percentiles are read as `mart_hist_quantiles` reads them
(`histograms.Histogram`), so they equal the documented SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mcp_analytics.dashboard import catalog
from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.clients import label, window_days
from mcp_analytics.dashboard.histograms import Histogram, packed_text
from mcp_analytics.dashboard.ratios import Ratio, server_fault_rate
from mcp_analytics.dashboard.windows import Window

QUANTILES = (0.5, 0.95, 0.99)

# The rows of the window's days, of one server and one tool when given.
_WHERE = """
from analytics.daily_tool_version_summary
where day >= %(start)s and day < %(end)s
  and (%(bcp)s::text is null or bcp_name = %(bcp)s)
  and (%(tool)s::text is null or tool_name = %(tool)s)
"""

# Per server, tool and version: the sums, the first and last call and the histogram added up
# by PostgreSQL (packed); a server's version adds up its tools here.
_GROUPS = (
    "select bcp_name, tool_name, tool_version, sum(total_calls)::bigint,"
    " sum(failed_calls)::bigint, sum(caller_error_calls)::bigint, min(first_called_at),"
    " max(last_called_at), "
    + packed_text("sum(duration_histogram_packed)")
    + _WHERE
    + "group by 1, 2, 3"
)

# Calls per server, version and day (the chart).
_SERIES = (
    "select bcp_name, tool_version, day, sum(total_calls)::bigint" + _WHERE + "group by 1, 2, 3"
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
    histogram: Histogram = field(default_factory=Histogram)

    error_rate = Ratio("errors", "calls")

    @property
    def server_fault_rate(self) -> float | None:
        """As the regressions and the error budget count (ratios.server_fault_rate)."""
        return server_fault_rate(self.errors, self.caller_errors, self.calls)

    def absorb(self, other: Release) -> None:
        """Add another group's calls, tools, first and last call and histogram."""
        self.calls += other.calls
        self.errors += other.errors
        self.caller_errors += other.caller_errors
        self.tools |= other.tools
        firsts = [t for t in (self.first_called_at, other.first_called_at) if t is not None]
        lasts = [t for t in (self.last_called_at, other.last_called_at) if t is not None]
        self.first_called_at = min(firsts, default=None)
        self.last_called_at = max(lasts, default=None)
        self.histogram.add(other.histogram)

    def quantiles(self) -> list[float | None]:
        """p50, p95, p99 of the group's merged histogram (ms)."""
        return self.histogram.quantiles(QUANTILES)


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
    return catalog.built(conn, "daily_tool_version_summary")


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
    days = window_days(window)
    params = {
        "start": days[0],
        "end": window.end,
        "bcp": bcp,
        "tool": tool,
    }
    releases: dict[tuple[str, str], Release] = {}
    by_tool: dict[tuple[str, str, str], Release] = {}
    for server, name, version, calls, errors, caller, first, last, packed in conn.execute(
        _GROUPS, params
    ):
        histogram = Histogram.parse(packed)
        group = Release(
            server, label(version), name, calls, errors, caller, first, last, {name}, histogram
        )
        by_tool[(server, name, group.version)] = group
        release = releases.get((server, group.version))
        if release is None:
            releases[(server, group.version)] = release = Release(server, group.version)
        release.absorb(group)
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, dict[str, list[int]]] = {}
    for server, version, day, calls in conn.execute(_SERIES, params):
        per_day = series.setdefault(server, {}).setdefault(label(version), [0] * len(days))
        if day in index:
            per_day[index[day]] += calls
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
    if not catalog.built(conn, "tool_regressions"):
        return None
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(_REGRESSIONS, {"bcp": bcp, "tool": tool}).fetchall()

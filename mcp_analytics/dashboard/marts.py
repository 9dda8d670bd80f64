"""What the analytics pages read from the marts (schema `analytics`), window by window.

Each panel asks PostgreSQL for the sums of the groups it shows (a bucket of the chart, a tool,
an operation): counts are sums of the marts' columns, and a group's latency histogram is the
sum of its rows' packed histograms (`duration_histogram_packed`, added up by the database's
numeric addition), whose percentiles `histograms.Histogram` reads exactly as
`mart_hist_quantiles` does. So every percentile shown is the documented
`mart_hist_quantile(mart_hist_merge(duration_histogram), q)` of the window, within 1/128 of the
exact percentile of the raw rows (docs/dbt.md). Windows of days read the daily tool mart (one
row per tool, operation and day).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard import catalog
from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.histograms import Histogram, bucket_value, packed_text
from mcp_analytics.dashboard.ratios import Ratio, server_fault_rate
from mcp_analytics.dashboard.windows import Window

QUANTILES = (0.5, 0.95, 0.99)
#: the error classes of the tool marts (docs/analytics.md), in the order pages show them
ERROR_CLASSES = ("tool_error", "caller_error", "server_error", "transport_error")


def _tool_source(window: Window, start: datetime | None = None) -> Source:
    """What the tool panels read, as a cache source: (table, bucket column, start, end)."""
    table, column = (
        ("hourly_tool_usage_summary", "hour")
        if window.grain == "hour"
        else ("daily_tool_usage_summary", "day")
    )
    return (table, column, start or window.start, window.end)


_COUNT_SUMS = (
    "sum(total_calls)::bigint, sum(failed_calls)::bigint, sum(tool_error_calls)::bigint,"
    " sum(caller_error_calls)::bigint, sum(server_error_calls)::bigint,"
    " sum(transport_error_calls)::bigint, coalesce(sum(sum_duration_ms), 0)::bigint, "
)
#: What a panel reads of a group of tool-mart rows, as `Totals.of` takes them: calls, failed,
#: the four error classes, sum of durations, and the group's histogram added up by PostgreSQL
#: (the sum of its rows' packed histograms, as `packed_text`): for groups of many rows.
TOOL_SUMS = sql.SQL(_COUNT_SUMS + packed_text("sum(duration_histogram_packed)"))
#: The same for groups of a few rows (one tool's): their jsonb histograms joined, fewer bytes
#: than a packed sum's digits and no numeric additions.
TOOL_SUMS_FEW = sql.SQL(_COUNT_SUMS + "string_agg(duration_histogram::text, ' ')")


@dataclass
class Totals:
    """Sums of tool-mart rows of one group, and their merged latency histogram."""

    calls: int = 0
    errors: int = 0
    sum_ms: int = 0
    #: failed calls per error class, in ERROR_CLASSES order
    classes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    histogram: Histogram = field(default_factory=Histogram)

    @classmethod
    def of(cls, sums: Sequence[Any]) -> Totals:
        """The Totals of one row of `TOOL_SUMS` or `TOOL_SUMS_FEW`."""
        calls, errors, *classes, sum_ms, packed = sums
        return cls(calls or 0, errors or 0, sum_ms, [n or 0 for n in classes],
                   Histogram.parse(packed))  # fmt: skip

    def add(self, other: Totals) -> None:
        """Add another group's counts and histogram."""
        self.calls += other.calls
        self.errors += other.errors
        self.sum_ms += other.sum_ms
        self.classes = [a + b for a, b in zip(self.classes, other.classes, strict=True)]
        self.histogram.add(other.histogram)

    def quantiles(self, qs: tuple[float, ...] = QUANTILES) -> list[float | None]:
        """`mart_hist_quantiles` of the merged histogram."""
        return self.histogram.quantiles(qs)

    def class_counts(self) -> dict[str, int]:
        return dict(zip(ERROR_CLASSES, self.classes, strict=True))


def _rows(
    conn: psycopg.Connection, query: sql.SQL | sql.Composed, params: dict
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(query, params).fetchall()


@dataclass
class Point:
    bucket: datetime
    calls: int = 0
    errors: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    #: failed calls per error class
    classes: dict[str, int] = field(default_factory=dict)


@dataclass
class Calls:
    """Tool calls over a window: totals, percentiles, one Point per bucket."""

    calls: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    series: list[Point]

    error_rate = Ratio("errors", "calls")

    @property
    def classes(self) -> dict[str, int]:
        """Failed calls per error class over the window."""
        return {c: sum(p.classes.get(c, 0) for p in self.series) for c in ERROR_CLASSES}


@dataclass
class Overview(Calls):
    """Every tool's calls over a window, and the window's active clients."""

    active_clients: int | None = None
    #: why active_clients is None, when it is
    clients_note: str | None = None

    @property
    def server_fault_rate(self) -> float | None:
        """Failures by the server's fault (tool, server, transport errors) per call, caller
        errors counted neither as failures nor as calls (as the error budget counts)."""
        return server_fault_rate(self.errors, self.classes["caller_error"], self.calls)


def _calls(total: Totals, series: list[Point]) -> dict[str, Any]:
    """The fields of `Calls` of a window's totals and series."""
    p50, p95, p99 = total.quantiles()
    return {"calls": total.calls, "errors": total.errors, "p50": p50, "p95": p95, "p99": p99,
            "series": series}  # fmt: skip


def _sum(groups: Iterable[Totals]) -> Totals:
    """One Totals of several (their counts added, their histograms merged)."""
    total = Totals()
    for group in groups:
        total.add(group)
    return total


def _points(window: Window, per_bucket: dict[datetime, Totals]) -> list[Point]:
    """One Point per bucket of the window, zeros where no row."""
    points = []
    for bucket in window.buckets():
        group = per_bucket.get(bucket)
        if group is None:
            points.append(Point(bucket))
            continue
        p50, p95, p99 = group.quantiles()
        points.append(Point(bucket, group.calls, group.errors, p50, p95, p99, group.class_counts()))
    return points


def _bucket_totals(rows: list[tuple]) -> Totals:
    """The Totals of a bucket's one row of (bucket, `TOOL_SUMS`)."""
    return Totals.of(rows[0][1:])


def _series(conn: psycopg.Connection, window: Window) -> tuple[list[Point], Totals]:
    """One Point per bucket of the window (zeros where no row) and the window's totals, of
    every tool: each bucket's sums (one grouped row) are kept with the bucket's version and
    read again only when it is rebuilt."""
    source = _tool_source(window)
    col = sql.Identifier(source[1])
    columns = sql.SQL("{}, {}").format(col, TOOL_SUMS)
    per_bucket = CACHE.per_bucket(conn, source, columns, "totals", _bucket_totals, group=col)
    return _points(window, per_bucket), _sum(per_bucket.values())


def active_clients(conn: psycopg.Connection, window: Window) -> tuple[int | None, str | None]:
    """Distinct clients (name and version) seen in the window's days, from
    analytics.daily_client_summary when that mart exists; else (None, why)."""
    try:
        row = conn.execute(
            "select count(distinct (client_name, client_version))"
            " from analytics.daily_client_summary"
            " where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s"
            " and client_name is not null",
            {"start": window.start, "end": window.end},
        ).fetchone()
    except (*NOT_BUILT, psycopg.errors.UndefinedColumn):
        return None, "needs the clients mart (analytics.daily_client_summary), not built yet"
    return (int(row[0]) if row else 0), None


def _overview(conn: psycopg.Connection, window: Window) -> Overview:
    """Calls, errors and p50/p95/p99 of every tool call in the window, and per bucket."""
    points, total = _series(conn, window)
    clients, note = active_clients(conn, window)
    return Overview(**_calls(total, points), active_clients=clients, clients_note=note)


@dataclass
class ToolRow:
    """One tool (bcp_name, tool_name) over the window and the previous one."""

    bcp_name: str
    tool_name: str
    calls: int = 0
    errors: int = 0
    p95: float | None = None
    avg_ms: float | None = None
    prev_calls: int = 0
    prev_errors: int = 0
    prev_p95: float | None = None
    spark: list[int] = field(default_factory=list)

    error_rate = Ratio("errors", "calls")
    prev_error_rate = Ratio("prev_errors", "prev_calls")

    @property
    def calls_change(self) -> float | None:
        """Relative change of calls against the previous window (0.25 = +25 %)."""
        return (self.calls - self.prev_calls) / self.prev_calls if self.prev_calls else None

    @property
    def p95_change(self) -> float | None:
        if self.p95 is None or not self.prev_p95:
            return None
        return (self.p95 - self.prev_p95) / self.prev_p95

    @property
    def error_rate_change(self) -> float | None:
        """Difference of error rates in percentage points / 100 (0.02 = +2 points)."""
        if self.error_rate is None or self.prev_error_rate is None:
            return None
        return self.error_rate - self.prev_error_rate


#: the tool-mart columns a window's pieces read (summed by TOOL_SUMS)
_PIECE_COLUMNS = (
    "bcp_name, tool_name, total_calls, failed_calls, tool_error_calls, caller_error_calls,"
    " server_error_calls, transport_error_calls, sum_duration_ms, duration_histogram_packed"
)


def _pieces(start: datetime, end: datetime) -> list[tuple[str, str, datetime, datetime]]:
    """[start, end) (whole hours) as the tool-mart ranges that cover it with the fewest rows:
    its whole UTC days from the daily mart (which adds up its hours), the hours before the
    first and after the last from the hourly mart. (table, column, from, to) each."""
    first = _midnight(start + timedelta(hours=23))
    last = _midnight(end)
    if first >= last:
        return [("hourly_tool_usage_summary", "hour", start, end)]
    pieces = [("daily_tool_usage_summary", "day", first, last)]
    if start < first:
        pieces.append(("hourly_tool_usage_summary", "hour", start, first))
    if last < end:
        pieces.append(("hourly_tool_usage_summary", "hour", last, end))
    return pieces


def _midnight(at: datetime) -> datetime:
    """The start of the UTC day of `at`."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _side_sums(window: Window) -> tuple[sql.Composed, list[Any]]:
    """A query of (bcp_name, tool_name, current, TOOL_SUMS...) per tool and side of the window
    (the window or the previous one), reading whole days from the daily mart, and its
    parameters."""
    parts, params = [], []
    for side_start, side_end, current in (
        (window.previous.start, window.start, False),
        (window.start, window.end, True),
    ):
        for table, column, lo, hi in _pieces(side_start, side_end):
            parts.append(
                sql.SQL(
                    "select {current} as is_current, {columns} from analytics.{table}"
                    " where {col} >= %s and {col} < %s"
                ).format(
                    current=sql.Literal(current),
                    columns=sql.SQL(_PIECE_COLUMNS),
                    table=sql.Identifier(table),
                    col=sql.Identifier(column),
                )
            )
            params += [lo, hi]
    query = sql.SQL(
        "select bcp_name, tool_name, is_current, {sums} from ({pieces}) as piece group by 1, 2, 3"
    ).format(sums=TOOL_SUMS, pieces=sql.SQL(" union all ").join(parts))
    return query, params


#: per tool and bucket of the window: its calls (the sparkline)
_TOOL_SPARKS = """
select bcp_name, tool_name, {col}, sum(total_calls)::bigint
from analytics.{table}
where {col} >= %(start)s and {col} < %(end)s
group by 1, 2, 3
"""


def _tools(conn: psycopg.Connection, window: Window) -> list[ToolRow]:
    """Every tool with calls in the window or the previous one, by calls descending: each
    side's sums and histogram added up by PostgreSQL (two groups per tool; whole days read
    from the daily mart), the sparklines' calls per bucket in a second query."""
    table, column = _tool_source(window)[:2]
    names = {"col": sql.Identifier(column), "table": sql.Identifier(table), "sums": TOOL_SUMS}
    params = {"start": window.start, "previous": window.previous.start, "end": window.end}
    index = {b: i for i, b in enumerate(window.buckets())}
    by_tool: dict[tuple[str, str], ToolRow] = {}

    def tool(bcp: str, name: str) -> ToolRow:
        found = by_tool.get((bcp, name))
        if found is None:
            by_tool[(bcp, name)] = found = ToolRow(bcp, name, spark=[0] * len(index))
        return found

    for bcp, name, is_current, *sums in conn.execute(*_side_sums(window)):
        row, total = tool(bcp, name), Totals.of(sums)
        (p95,) = total.quantiles((0.95,))
        if is_current:
            row.calls, row.errors, row.p95 = total.calls, total.errors, p95
            row.avg_ms = total.sum_ms / total.calls if total.calls else None
        else:
            row.prev_calls, row.prev_errors, row.prev_p95 = total.calls, total.errors, p95
    for bcp, name, bucket, calls in conn.execute(sql.SQL(_TOOL_SPARKS).format(**names), params):
        if bucket in index:
            tool(bcp, name).spark[index[bucket]] += calls
    return sorted(by_tool.values(), key=lambda t: (-t.calls, t.bcp_name, t.tool_name))


@dataclass(kw_only=True)
class ToolDetail(Calls):
    """One tool's calls over a window."""

    bcp_name: str
    tool_name: str
    #: (representative value in ms, calls) per histogram bucket, by value
    distribution: list[tuple[float, int]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)


#: one tool's sums per bucket, and per operation (bucket null) over the window
_TOOL_DETAIL = """
select {col}, operation, {sums}
from analytics.{table}
where {col} >= %(start)s and {col} < %(end)s and bcp_name = %(bcp)s and tool_name = %(tool)s
group by grouping sets (({col}), (operation))
"""


def _tool_detail(
    conn: psycopg.Connection, window: Window, bcp_name: str, tool_name: str
) -> ToolDetail | None:
    """One tool over the window; None when the marts hold no row of it at all."""
    known = conn.execute(
        "select 1 from analytics.daily_tool_usage_summary where bcp_name = %s and tool_name = %s"
        " union all select 1 from analytics.hourly_tool_usage_summary"
        " where bcp_name = %s and tool_name = %s limit 1",
        (bcp_name, tool_name, bcp_name, tool_name),
    ).fetchone()
    if not known:
        return None
    table, column = _tool_source(window)[:2]
    per_bucket: dict[datetime, Totals] = {}
    by_operation: dict[str, Totals] = {}
    for bucket, operation, *sums in conn.execute(
        sql.SQL(_TOOL_DETAIL).format(
            col=sql.Identifier(column), table=sql.Identifier(table), sums=TOOL_SUMS_FEW
        ),
        {"start": window.start, "end": window.end, "bcp": bcp_name, "tool": tool_name},
    ):
        if bucket is not None:
            per_bucket[bucket] = Totals.of(sums)
        else:
            by_operation[operation] = Totals.of(sums)
    points, total = _points(window, per_bucket), _sum(per_bucket.values())
    operations = [
        {"operation": op, "calls": g.calls, "errors": g.errors, "q": g.quantiles()}
        for op, g in sorted(by_operation.items(), key=lambda kv: (-kv[1].calls, kv[0]))
    ]
    return ToolDetail(
        **_calls(total, points),
        bcp_name=bcp_name,
        tool_name=tool_name,
        distribution=[(bucket_value(i), n) for i, n in total.histogram.buckets().items()],
        operations=operations,
    )


# ------------------------------------------------------------------------------- requests

STATUS_CLASSES = ("s2xx", "s3xx", "s4xx", "s5xx", "sother")
_STATUS_SUMS = (
    "sum(status_2xx_count)::bigint, sum(status_3xx_count)::bigint,"
    " sum(status_4xx_count)::bigint, sum(status_5xx_count)::bigint,"
    " sum(status_other_count)::bigint"
)
_REQUESTS_WHERE = (
    " from analytics.hourly_request_summary where hour >= %(start)s and hour < %(end)s"
)

# Per method and path: the counts, and the rows' jsonb histograms as one text (the request
# mart has no packed histogram), read in one pass by Histogram.from_jsonb.
_REQUEST_PATHS = (
    "select method, path, sum(total_requests)::bigint, sum(failed_requests)::bigint, "
    + _STATUS_SUMS
    + ", coalesce(sum(sum_duration_ms), 0)::bigint, string_agg(duration_histogram::text, ' ')"
    + _REQUESTS_WHERE
    + " group by 1, 2"
)
# Per chart bucket: the status classes (date_bin: UTC steps without a time zone lookup).
_REQUEST_BUCKETS = (
    "select date_bin(%(step)s::interval, hour, timestamptz '2000-01-01 00:00:00+00'), "
    + _STATUS_SUMS
    + _REQUESTS_WHERE
    + " group by 1"
)
_REQUEST_ERROR_TYPES = (
    "select e.key, sum(e.value::bigint)::bigint"
    " from analytics.hourly_request_summary as r"
    " cross join lateral jsonb_each_text(r.error_type_counts) as e"
    " where r.hour >= %(start)s and r.hour < %(end)s group by 1"
)


@dataclass
class Requests:
    paths: list[dict[str, Any]]
    series: list[dict[str, Any]]
    error_types: list[tuple[str, int]]
    totals: dict[str, int]


def _requests(conn: psycopg.Connection, window: Window) -> Requests:
    """HTTP requests of the window: per method and path (counts, status classes, average and
    p50/p95/p99 of the merged histograms), status classes per bucket, error types."""
    params = {"start": window.start, "end": window.end, "step": f"1 {window.grain}"}
    counted = ("requests", "failed", *STATUS_CLASSES)
    paths = []
    for method, path, *counts, sum_ms, histograms in conn.execute(_REQUEST_PATHS, params):
        row = {"method": method, "path": path, "sum_ms": sum_ms}
        row.update(zip(counted, counts, strict=True))
        row["q"] = Histogram.from_jsonb([histograms]).quantiles(QUANTILES)
        paths.append(row)
    paths.sort(key=lambda p: (-p["requests"], p["method"], p["path"]))
    per_bucket: dict[datetime, dict[str, Any]] = {
        b: {"bucket": b, **dict.fromkeys(STATUS_CLASSES, 0)} for b in window.buckets()
    }
    for bucket, *counts in conn.execute(_REQUEST_BUCKETS, params):
        if bucket in per_bucket:
            per_bucket[bucket].update(zip(STATUS_CLASSES, counts, strict=True))
    types = conn.execute(_REQUEST_ERROR_TYPES, params).fetchall()
    return Requests(
        paths=paths,
        series=list(per_bucket.values()),
        error_types=sorted(types, key=lambda kv: (-kv[1], kv[0])),
        totals={k: sum(int(p[k]) for p in paths) for k in counted},
    )


# -------------------------------------------------------------------------------- metrics

# One pass: per metric, period and chart bucket; the summary adds these up.
_METRICS = """
select metric_name, aggregation_period,
       date_bin(%(step)s::interval, time_bucket, timestamptz '2000-01-01 00:00:00+00') as bucket,
       sum(sample_count)::bigint as samples,
       sum(avg_value * sample_count) as weighted_sum,
       min(min_value) as min_value, max(max_value) as max_value,
       max(p95_value) as max_p95, count(*)::bigint as buckets
from analytics.performance_metrics_summary
where time_bucket >= %(start)s and time_bucket < %(end)s
group by 1, 2, 3
"""


@dataclass
class Metrics:
    """performance_metrics_summary over a window.

    Attributes:
        summary: per metric and aggregation period: samples, sample-weighted average, min, max,
            the highest p95 of its mart buckets (a p95 cannot be merged), mart buckets.
        series: metric name -> per chart bucket (weighted average, highest p95), None where no
            sample.
    """

    summary: list[dict[str, Any]]
    series: dict[str, list[tuple[float | None, float | None]]]


def _fold(into: dict[str, Any], row: dict[str, Any]) -> None:
    into["samples"] += row["samples"]
    into["weighted_sum"] += row["weighted_sum"] or 0
    into["buckets"] += row["buckets"]
    for key, pick in (("min_value", min), ("max_value", max), ("max_p95", max)):
        if row[key] is not None:
            into[key] = row[key] if into[key] is None else pick(into[key], row[key])


def _empty() -> dict[str, Any]:
    return dict.fromkeys(("min_value", "max_value", "max_p95"), None) | {
        "samples": 0,
        "weighted_sum": 0,
        "buckets": 0,
    }


def _average(acc: dict[str, Any]) -> float | None:
    return float(acc["weighted_sum"]) / acc["samples"] if acc["samples"] else None


def _metrics(conn: psycopg.Connection, window: Window) -> Metrics:
    """performance_metrics_summary over the window: per metric and period, and over time."""
    # date_bin on UTC-aligned steps is date_trunc(grain, time_bucket, 'UTC') at a third of
    # its cost (no time zone looked up per row)
    step = "1 hour" if window.grain == "hour" else "1 day"
    params = {"start": window.start, "end": window.end, "step": step}
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    per_bucket: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in _rows(conn, sql.SQL(_METRICS), params):
        _fold(summary.setdefault((r["metric_name"], r["aggregation_period"]), _empty()), r)
        _fold(per_bucket.setdefault((r["metric_name"], r["bucket"]), _empty()), r)
    rows = []
    for (name, period), acc in sorted(summary.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        rows.append(
            {"metric_name": name, "aggregation_period": period, "avg_value": _average(acc)}
            | {k: acc[k] for k in ("samples", "min_value", "max_value", "max_p95", "buckets")}
        )
    index = {b: i for i, b in enumerate(window.buckets())}
    series: dict[str, list[tuple[float | None, float | None]]] = {}
    for (name, bucket), acc in per_bucket.items():
        points = series.setdefault(name, [(None, None)] * len(index))
        if bucket in index:
            p95 = float(acc["max_p95"]) if acc["max_p95"] is not None else None
            points[index[bucket]] = (_average(acc), p95)
    return Metrics(summary=rows, series=dict(sorted(series.items())))


# ------------------------------------------------------------------------------ errors

_ERROR_DAYS = """
select day, level::text as level, category, error_count, affected_users, affected_sessions,
       resolved_count, unresolved_count, avg_severity, error_codes
from analytics.daily_error_summary
where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s
order by day desc, error_count desc
"""


def error_days(conn: psycopg.Connection, window: Window) -> list[dict[str, Any]]:
    """Rows of analytics.daily_error_summary for the days the window touches, newest first."""
    return _rows(conn, sql.SQL(_ERROR_DAYS), {"start": window.start, "end": window.end})


MARTS = (
    "hourly_tool_usage_summary",
    "daily_tool_usage_summary",
    "hourly_request_summary",
    "daily_error_summary",
    "performance_metrics_summary",
)


#: what reading a mart that dbt has not built yet raises
NOT_BUILT = (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)


def marts_state(conn: psycopg.Connection) -> str:
    """ "missing" (dbt never built the marts), "empty" (built, no tool call yet) or "ready".
    One round trip once they are built."""
    try:
        row = conn.execute(
            "select exists (select 1 from analytics.hourly_tool_usage_summary),"
            " (select count(to_regclass('analytics.' || name)) from unnest(%s::text[]) as name)",
            (list(MARTS),),
        ).fetchone()
    except NOT_BUILT:
        return "missing"
    if not row or row[1] < len(MARTS):
        return "missing"
    return "ready" if row[0] else "empty"


# ---------------------------------------------------------------------------- error budget

_BUDGET_LATEST = """
select distinct on (bcp_name, tool_name)
       bcp_name, tool_name, day, slo_target, window_days, window_eligible_calls,
       window_error_calls, window_error_rate, allowed_error_calls, budget_remaining,
       is_budget_exhausted
from analytics.tool_error_budget
where day < %(end)s
order by bcp_name, tool_name, day desc
"""

_BUDGET_DAYS = """
select bcp_name, tool_name, day, budget_remaining
from analytics.tool_error_budget
where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s
"""


def error_budget(conn: psycopg.Connection, window: Window) -> list[dict[str, Any]] | None:
    """Per tool, its row of analytics.tool_error_budget for the last day of the window (the
    28 days ending then), with `trend`: budget_remaining per day of the window; most spent
    first. None when that mart is not built."""
    if not catalog.built(conn, "tool_error_budget"):
        return None
    params = {"start": window.start, "end": window.end}
    rows = _rows(conn, sql.SQL(_BUDGET_LATEST), params)
    days = [
        datetime.combine(d.date(), datetime.min.time(), d.tzinfo)
        for d in window.buckets()
        if d.hour == 0
    ] or [window.start]
    index = {d: i for i, d in enumerate(days)}
    trends: dict[tuple[str, str], list[float | None]] = {}
    for r in _rows(conn, sql.SQL(_BUDGET_DAYS), params):
        trend = trends.setdefault((r["bcp_name"], r["tool_name"]), [None] * len(days))
        if r["day"] in index and r["budget_remaining"] is not None:
            trend[index[r["day"]]] = float(r["budget_remaining"])
    for r in rows:
        r["trend"] = trends.get((r["bcp_name"], r["tool_name"]), [None] * len(days))
        r["trend_days"] = days
    rows.sort(
        key=lambda r: (
            r["budget_remaining"] is None,
            r["budget_remaining"] if r["budget_remaining"] is not None else 0,
        )
    )
    return rows


def error_totals(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of daily_error_summary added up per level and category over the window: errors,
    resolved, unresolved, days with errors, severity averaged over errors, the codes seen.
    (Affected users and sessions are distinct counts per day: they do not add up, and stay
    in the per-day rows.)"""
    totals: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in days:
        t = totals.setdefault(
            (r["level"], r["category"]),
            {"level": r["level"], "category": r["category"], "error_count": 0,
             "resolved_count": 0, "unresolved_count": 0, "days": 0, "_severity": 0.0,
             "_rated": 0, "codes": set()},
        )  # fmt: skip
        t["error_count"] += r["error_count"]
        t["resolved_count"] += r["resolved_count"]
        t["unresolved_count"] += r["unresolved_count"]
        t["days"] += 1
        if r["avg_severity"] is not None:
            t["_severity"] += float(r["avg_severity"]) * r["error_count"]
            t["_rated"] += r["error_count"]
        t["codes"].update(c for c in (r["error_codes"] or "").split(", ") if c)
    out = []
    for t in totals.values():
        t["avg_severity"] = t.pop("_severity") / t["_rated"] if t["_rated"] else None
        del t["_rated"]
        t["codes"] = ", ".join(sorted(t["codes"]))
        out.append(t)
    return sorted(out, key=lambda t: (-t["error_count"], t["level"], t["category"] or ""))


# ---------------------------------------------------------------------- cached entry points


def overview(conn: psycopg.Connection, window: Window) -> Overview:
    """Calls, errors and p50/p95/p99 of every tool call in the window, and per bucket."""
    key = ("overview", window)
    return CACHE.get(conn, key, [_tool_source(window)], lambda: _overview(conn, window))


def tools(conn: psycopg.Connection, window: Window) -> list[ToolRow]:
    """Every tool with calls in the window or the previous one, by calls descending (a new
    list each call: callers may sort it)."""
    sources = [
        *_pieces(window.previous.start, window.start),
        *_pieces(window.start, window.end),
        _tool_source(window),  # the sparklines
    ]
    return list(CACHE.get(conn, ("tools", window), sources, lambda: _tools(conn, window)))


def tool_detail(
    conn: psycopg.Connection, window: Window, bcp_name: str, tool_name: str
) -> ToolDetail | None:
    """One tool over the window; None when the marts hold no row of it at all."""
    key = ("tool", window, bcp_name, tool_name)
    return CACHE.get(
        conn,
        key,
        [_tool_source(window)],
        lambda: _tool_detail(conn, window, bcp_name, tool_name),
    )


def requests(conn: psycopg.Connection, window: Window) -> Requests:
    """HTTP requests of the window: per method and path, status classes over time, error types."""
    source: Source = ("hourly_request_summary", "hour", window.start, window.end)
    return CACHE.get(conn, ("requests", window), [source], lambda: _requests(conn, window))


def metrics(conn: psycopg.Connection, window: Window) -> Metrics:
    """performance_metrics_summary over the window: per metric and period, and over time."""
    source: Source = ("performance_metrics_summary", "time_bucket", window.start, window.end)
    return CACHE.get(conn, ("metrics", window), [source], lambda: _metrics(conn, window))

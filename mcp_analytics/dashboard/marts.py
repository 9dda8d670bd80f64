"""What the analytics pages read from the marts (schema `analytics`), window by window.

Each panel reads the mart rows of its window once (one query) and adds them up here: counts
are sums of the marts' columns; percentiles over a window merge the rows' latency histograms
and `histograms.quantiles` reads them exactly as `mart_hist_quantiles` does, so every
percentile shown is the documented `mart_hist_quantile(mart_hist_merge(duration_histogram), q)`
of the window, within 1/128 of the exact percentile of the raw rows (docs/dbt.md). Windows of
days read the daily tool mart (one row per tool, operation and day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.histograms import bucket_value, quantiles
from mcp_analytics.dashboard.windows import Window

QUANTILES = (0.5, 0.95, 0.99)
#: the error classes of the tool marts (docs/analytics.md), in the order pages show them
ERROR_CLASSES = ("tool_error", "caller_error", "server_error", "transport_error")


def _tool_source(window: Window, start: datetime | None = None) -> Source:
    """What `_tool_calls` reads, as a cache source."""
    table, column = (
        ("hourly_tool_usage_summary", "hour")
        if window.grain == "hour"
        else ("daily_tool_usage_summary", "day")
    )
    return (table, column, start or window.start, window.end)


#: What the panels read of a tool mart's row, as the tuples `Totals.add` takes: bucket start,
#: bcp_name, tool_name, operation, calls, failed, the four error classes, sum of durations,
#: histogram as JSON text (parsed when used: kept rows stay small).
_TOOL_COLUMNS = (
    "{col}, bcp_name, tool_name, operation, total_calls, failed_calls, tool_error_calls,"
    " caller_error_calls, server_error_calls, transport_error_calls, sum_duration_ms,"
    " duration_histogram::text"
)


def _tool_rows(
    conn: psycopg.Connection,
    window: Window,
    start: datetime | None = None,
    tool: tuple[str, str] | None = None,
) -> list:
    """Rows of the hourly or daily tool mart in [start or window.start, window.end), as
    `_TOOL_COLUMNS`: of every tool through the cache's rows kept per bucket, or of one tool
    (bcp_name, tool_name) read directly (a few rows)."""
    table, column = _tool_source(window)[:2]
    columns = sql.SQL(_TOOL_COLUMNS).format(col=sql.Identifier(column))
    if tool is None:
        return CACHE.rows(conn, table, column, start or window.start, window.end, columns)
    query = sql.SQL(
        "select {columns} from analytics.{table} where {col} >= %s and {col} < %s"
        " and bcp_name = %s and tool_name = %s"
    ).format(columns=columns, table=sql.Identifier(table), col=sql.Identifier(column))
    return conn.execute(query, (start or window.start, window.end, *tool)).fetchall()


@dataclass
class Totals:
    """Sums of tool-mart rows of one group, and their merged latency histogram."""

    calls: int = 0
    errors: int = 0
    sum_ms: int = 0
    #: failed calls per error class, in ERROR_CLASSES order
    classes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    #: bucket index (text, as jsonb keys) -> count; see `histogram()`
    _histogram: dict[str, int] = field(default_factory=dict)
    _quantiles: dict[tuple[float, ...], list[float | None]] = field(default_factory=dict)

    def add(self, row: tuple) -> None:
        """Add a row of `_TOOL_COLUMNS`."""
        self._quantiles.clear()
        self.calls += row[4]
        self.errors += row[5]
        classes = self.classes
        classes[0] += row[6]
        classes[1] += row[7]
        classes[2] += row[8]
        classes[3] += row[9]
        self.sum_ms += row[10] or 0
        histogram = orjson.loads(row[11]) if row[11] else None
        if not histogram:
            return
        into = self._histogram
        if not into:
            self._histogram = histogram  # parsed for this row alone: adopted, not copied
            return
        get = into.get
        for index, count in histogram.items():
            into[index] = get(index, 0) + count

    def histogram(self) -> dict[int, int]:
        """The merged histogram: bucket index -> count."""
        return {int(i): n for i, n in self._histogram.items()}

    def quantiles(self, qs: tuple[float, ...] = QUANTILES) -> list[float | None]:
        """`histograms.quantiles` of the merged histogram (computed once per qs)."""
        found = self._quantiles.get(qs)
        if found is None:
            self._quantiles[qs] = found = quantiles(self.histogram(), qs)
        return found

    def class_counts(self) -> dict[str, int]:
        return dict(zip(ERROR_CLASSES, self.classes, strict=True))


def _group_rows(rows: Any, key: Any) -> dict[Any, Totals]:
    """{key(row): Totals of its rows} of `_tool_calls` rows."""
    groups: dict[Any, Totals] = {}
    for row in rows:
        k = key(row)
        group = groups.get(k)
        if group is None:
            groups[k] = group = Totals()
        group.add(row)
    return groups


def _rows(
    conn: psycopg.Connection, query: sql.SQL | sql.Composed, params: dict
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(query, params).fetchall()


def _rate(errors: int, calls: int) -> float | None:
    return errors / calls if calls else None


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
class Overview:
    """Totals and per-bucket series of tool calls over a window."""

    calls: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    series: list[Point]
    active_clients: int | None = None
    #: why active_clients is None, when it is
    clients_note: str | None = None

    @property
    def error_rate(self) -> float | None:
        return _rate(self.errors, self.calls)

    @property
    def classes(self) -> dict[str, int]:
        """Failed calls per error class over the window."""
        return {c: sum(p.classes.get(c, 0) for p in self.series) for c in ERROR_CLASSES}

    @property
    def server_fault_rate(self) -> float | None:
        """Failures by the server's fault (tool, server, transport errors) per call, caller
        errors counted neither as failures nor as calls (as the error budget counts)."""
        caller = self.classes["caller_error"]
        return _rate(self.errors - caller, self.calls - caller)


def _totals_of(rows: list[tuple]) -> Totals:
    """Totals of tool-mart rows (`_TOOL_COLUMNS`)."""
    total = Totals()
    for row in rows:
        total.add(row)
    total.quantiles()  # computed once, kept with the bucket
    return total


def _sum(groups: Iterable[Totals]) -> Totals:
    """One Totals of several (their counts added, their histograms merged)."""
    total = Totals()
    into = total._histogram
    get = into.get
    for group in groups:
        total.calls += group.calls
        total.errors += group.errors
        total.sum_ms += group.sum_ms
        total.classes = [a + b for a, b in zip(total.classes, group.classes, strict=True)]
        for index, count in group._histogram.items():
            into[index] = get(index, 0) + count
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


def _series(
    conn: psycopg.Connection,
    window: Window,
    tool: tuple[str, str] | None = None,
    by_operation: bool = False,
) -> tuple[list[Point], Totals, dict[str, Totals]]:
    """One Point per bucket of the window (zeros where no row), the window's totals and, with
    `by_operation`, totals per operation; of one tool when `tool` is (bcp_name, tool_name)."""
    if tool is None:
        # every tool: each bucket's totals are kept with its rows and derived again only when
        # the bucket is rebuilt
        table, column = _tool_source(window)[:2]
        columns = sql.SQL(_TOOL_COLUMNS).format(col=sql.Identifier(column))
        per_bucket = CACHE.per_bucket(
            conn, table, column, window.start, window.end, columns, "totals", _totals_of
        )
        operations: dict[str, Totals] = {}
    else:
        rows = _tool_rows(conn, window, tool=tool)
        per_bucket = {b: _totals_of(rs) for b, rs in _by_bucket(rows).items()}
        operations = _group_rows(rows, lambda r: r[3]) if by_operation else {}
    return _points(window, per_bucket), _sum(per_bucket.values()), operations


def _by_bucket(rows: list[tuple]) -> dict[datetime, list[tuple]]:
    out: dict[datetime, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row)
    return out


def active_clients(conn: psycopg.Connection, window: Window) -> tuple[int | None, str | None]:
    """Distinct clients (name and version) seen in the window's days, from
    analytics.daily_client_summary when that mart exists; else (None, why)."""
    # the catalog, not information_schema (which costs ~10 ms a look)
    have = conn.execute(
        "select count(*) from pg_attribute"
        " where attrelid = to_regclass('analytics.daily_client_summary')"
        " and attname in ('day', 'client_name', 'client_version') and not attisdropped"
    ).fetchone()
    if not have or have[0] < 3:
        return None, "needs the clients mart (analytics.daily_client_summary), not built yet"
    row = conn.execute(
        "select count(distinct (client_name, client_version)) from analytics.daily_client_summary"
        " where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s"
        " and client_name is not null",
        {"start": window.start, "end": window.end},
    ).fetchone()
    return (int(row[0]) if row else 0), None


def _overview(conn: psycopg.Connection, window: Window) -> Overview:
    """Calls, errors and p50/p95/p99 of every tool call in the window, and per bucket."""
    points, total, _ = _series(conn, window)
    p50, p95, p99 = total.quantiles()
    clients, note = active_clients(conn, window)
    return Overview(
        calls=total.calls,
        errors=total.errors,
        p50=p50,
        p95=p95,
        p99=p99,
        series=points,
        active_clients=clients,
        clients_note=note,
    )


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

    @property
    def error_rate(self) -> float | None:
        return _rate(self.errors, self.calls)

    @property
    def prev_error_rate(self) -> float | None:
        return _rate(self.prev_errors, self.prev_calls)

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


def _per_tool(rows: list[tuple]) -> dict[tuple[str, str], Totals]:
    """{(bcp_name, tool_name): Totals} of one bucket's rows."""
    return _group_rows(rows, lambda r: (r[1], r[2]))


def _tools(conn: psycopg.Connection, window: Window) -> list[ToolRow]:
    """Every tool with calls in the window or the previous one, by calls descending: each
    bucket's per-tool totals are kept with its rows and derived again only when it is rebuilt."""
    table, column = _tool_source(window)[:2]
    columns = sql.SQL(_TOOL_COLUMNS).format(col=sql.Identifier(column))
    per_bucket = CACHE.per_bucket(
        conn, table, column, window.previous.start, window.end, columns, "per_tool", _per_tool
    )
    index = {b: i for i, b in enumerate(window.buckets())}
    sides: dict[tuple[str, str, bool], list[Totals]] = {}
    by_tool: dict[tuple[str, str], ToolRow] = {}
    for bucket, tools in per_bucket.items():
        at = index.get(bucket)
        for (bcp, name), group in tools.items():
            sides.setdefault((bcp, name, bucket >= window.start), []).append(group)
            tool = by_tool.get((bcp, name))
            if tool is None:
                by_tool[(bcp, name)] = tool = ToolRow(bcp, name, spark=[0] * len(index))
            if at is not None:
                tool.spark[at] += group.calls
    for (bcp, name, is_current), groups in sides.items():
        tool = by_tool[(bcp, name)]
        total = _sum(groups)
        (p95,) = total.quantiles((0.95,))
        if is_current:
            tool.calls, tool.errors, tool.p95 = total.calls, total.errors, p95
            tool.avg_ms = total.sum_ms / total.calls if total.calls else None
        else:
            tool.prev_calls, tool.prev_errors, tool.prev_p95 = total.calls, total.errors, p95
    return sorted(by_tool.values(), key=lambda t: (-t.calls, t.bcp_name, t.tool_name))


@dataclass
class ToolDetail:
    bcp_name: str
    tool_name: str
    calls: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    series: list[Point]
    #: (representative value in ms, calls) per histogram bucket, by value
    distribution: list[tuple[float, int]]
    operations: list[dict[str, Any]]

    @property
    def error_rate(self) -> float | None:
        return _rate(self.errors, self.calls)

    @property
    def classes(self) -> dict[str, int]:
        """Failed calls per error class over the window."""
        return {c: sum(p.classes.get(c, 0) for p in self.series) for c in ERROR_CLASSES}


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
    points, total, by_operation = _series(conn, window, (bcp_name, tool_name), by_operation=True)
    p50, p95, p99 = total.quantiles()
    operations = [
        {"operation": op, "calls": g.calls, "errors": g.errors, "q": g.quantiles()}
        for op, g in sorted(by_operation.items(), key=lambda kv: (-kv[1].calls, kv[0]))
    ]
    return ToolDetail(
        bcp_name=bcp_name,
        tool_name=tool_name,
        calls=total.calls,
        errors=total.errors,
        p50=p50,
        p95=p95,
        p99=p99,
        series=points,
        distribution=[(bucket_value(i), n) for i, n in sorted(total.histogram().items())],
        operations=operations,
    )


# ------------------------------------------------------------------------------- requests

#: What the Requests page reads of a row of hourly_request_summary (the hour first: rows are
#: kept per hour by the cache); histogram and error types as JSON text.
_REQUEST_COLUMNS = (
    "hour, method, path, total_requests, failed_requests, status_2xx_count, status_3xx_count,"
    " status_4xx_count, status_5xx_count, status_other_count, sum_duration_ms,"
    " duration_histogram::text, error_type_counts::text"
)

STATUS_CLASSES = ("s2xx", "s3xx", "s4xx", "s5xx", "sother")


@dataclass
class Requests:
    paths: list[dict[str, Any]]
    series: list[dict[str, Any]]
    error_types: list[tuple[str, int]]
    totals: dict[str, int]


@dataclass
class _HourRequests:
    """One hour's requests: per (method, path) the counts (requests, failed, the five status
    classes), sum of durations and histogram; status classes; error types."""

    paths: dict[tuple[str, str], tuple[list[int], int, dict[str, int]]]
    status: list[int]
    error_types: dict[str, int]


def _hour_requests(rows: list[tuple]) -> _HourRequests:
    paths: dict[tuple[str, str], tuple[list[int], int, dict[str, int]]] = {}
    status = [0] * len(STATUS_CLASSES)
    types: dict[str, int] = {}
    for _, method, path, *counts, sum_ms, histogram, error_types in rows:
        key = (method, path)
        kept = paths.get(key)
        merged = orjson.loads(histogram) if histogram else {}
        if kept is None:
            paths[key] = (list(counts), sum_ms or 0, merged)
        else:
            into = kept[2]
            for index, n in merged.items():
                into[index] = into.get(index, 0) + n
            paths[key] = ([a + b for a, b in zip(kept[0], counts, strict=True)],
                          kept[1] + (sum_ms or 0), into)  # fmt: skip
        for i, n in enumerate(counts[2:]):
            status[i] += n
        for error_type, n in (orjson.loads(error_types) if error_types else {}).items():
            types[error_type] = types.get(error_type, 0) + int(n)
    return _HourRequests(paths, status, types)


def _requests(conn: psycopg.Connection, window: Window) -> Requests:
    """HTTP requests of the window: per method and path, status classes over time, error types.
    Each hour's sums are kept with its rows and derived again only when the hour is rebuilt."""
    hours = CACHE.per_bucket(
        conn,
        "hourly_request_summary",
        "hour",
        window.start,
        window.end,
        sql.SQL(_REQUEST_COLUMNS),
        "requests",
        _hour_requests,
    )
    counted = ("requests", "failed", *STATUS_CLASSES)
    by_path: dict[tuple[str, str], dict[str, Any]] = {}
    histograms: dict[tuple[str, str], dict[str, int]] = {}
    per_bucket: dict[datetime, dict[str, Any]] = {
        b: {"bucket": b, **dict.fromkeys(STATUS_CLASSES, 0)} for b in window.buckets()
    }
    types: dict[str, int] = {}
    for hour, summary in hours.items():
        for key, (counts, sum_ms, histogram) in summary.paths.items():
            p = by_path.get(key)
            if p is None:
                by_path[key] = p = {"method": key[0], "path": key[1], "sum_ms": 0}
                p.update(dict.fromkeys(counted, 0))
                histograms[key] = {}
            for name, n in zip(counted, counts, strict=True):
                p[name] += n
            p["sum_ms"] += sum_ms
            into = histograms[key]
            get = into.get
            for index, n in histogram.items():
                into[index] = get(index, 0) + n
        point = per_bucket.get(hour if window.grain == "hour" else _day_of(hour))
        if point is not None:
            for name, n in zip(STATUS_CLASSES, summary.status, strict=True):
                point[name] += n
        for error_type, n in summary.error_types.items():
            types[error_type] = types.get(error_type, 0) + n
    paths = sorted(by_path.values(), key=lambda p: (-p["requests"], p["method"], p["path"]))
    for p in paths:
        merged = histograms[(p["method"], p["path"])]
        p["q"] = quantiles({int(i): n for i, n in merged.items()}, QUANTILES)
    return Requests(
        paths=paths,
        series=list(per_bucket.values()),
        error_types=sorted(types.items(), key=lambda kv: (-kv[1], kv[0])),
        totals={k: sum(int(p[k]) for p in paths) for k in counted},
    )


def _day_of(at: datetime) -> datetime:
    """Start of the UTC day of `at`, in UTC."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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


def marts_state(conn: psycopg.Connection) -> str:
    """ "missing" (dbt never built the marts), "empty" (built, no tool call yet) or "ready"."""
    found = conn.execute(
        "select count(to_regclass('analytics.' || name)) from unnest(%s::text[]) as name",
        (list(MARTS),),
    ).fetchone()
    if not found or found[0] < len(MARTS):
        return "missing"
    row = conn.execute(
        "select exists (select 1 from analytics.hourly_tool_usage_summary)"
    ).fetchone()
    return "ready" if row and row[0] else "empty"


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
    found = conn.execute("select to_regclass('analytics.tool_error_budget')").fetchone()
    if not found or found[0] is None:
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
    source = _tool_source(window, window.previous.start)
    return list(CACHE.get(conn, ("tools", window), [source], lambda: _tools(conn, window)))


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

"""A prometheus_client collector whose samples are the tool marts' totals, read per scrape.

Every UTC day of `analytics.daily_tool_usage_summary` holds, per server (bcp_name), tool and
error class, the calls in each bucket of the semantic conventions'
`mcp.server.operation.duration` and the sum of their durations (bootstrap_sql/105; exact sums of
the hourly mart, itself exact against the raw rows). Summed over the mart's whole history they
are monotonic counters, as Prometheus expects: late rows only add, and a lower value (the
mart's own retention dropping its oldest days) reads as a counter reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from mcp_analytics.warehouse import db

#: rows of operation_duration_buckets and operation_duration_sum_ms, in order
ERROR_CLASSES = ("ok", "tool_error", "caller_error", "server_error", "transport_error")
#: the explicit bounds of mcp.server.operation.duration (seconds); the 15th bucket is +Inf
SEMCONV_BOUNDS_S = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: every tool call is a JSON-RPC tools/call (mcp.method.name)
TOOL_CALL_METHOD = "tools/call"
LABELS = ("mcp_server", "gen_ai_tool_name", "mcp_method_name", "error_type")

_TOTALS = """
with cells as (
    select d.bcp_name, d.tool_name, c.i, sum(c.n)::bigint as n
    from analytics.daily_tool_usage_summary as d
    cross join unnest(d.operation_duration_buckets) with ordinality as c (n, i)
    group by d.bcp_name, d.tool_name, c.i
),

sums as (
    select d.bcp_name, d.tool_name, s.i, sum(s.ms)::bigint as ms
    from analytics.daily_tool_usage_summary as d
    cross join unnest(d.operation_duration_sum_ms) with ordinality as s (ms, i)
    group by d.bcp_name, d.tool_name, s.i
)

select
    cells.bcp_name,
    cells.tool_name,
    array_agg(cells.n order by cells.i) as counts,
    (
        select array_agg(sums.ms order by sums.i) from sums
        where sums.bcp_name = cells.bcp_name and sums.tool_name = cells.tool_name
    ) as sums_ms
from cells
group by cells.bcp_name, cells.tool_name
order by cells.bcp_name, cells.tool_name
"""

_FRESHNESS = "select extract(epoch from max(refreshed_at)) from analytics.daily_tool_usage_summary"


@dataclass(frozen=True)
class ToolTotals:
    """One server's tool: per error class, calls per semantic-conventions bucket (15, not
    cumulative) and the sum of their durations in milliseconds."""

    bcp_name: str
    tool_name: str
    counts: dict[str, list[int]] = field(default_factory=dict)
    sums_ms: dict[str, int] = field(default_factory=dict)


def read_totals(conn: psycopg.Connection) -> tuple[list[ToolTotals], float | None]:
    """Totals per (server, tool) over the daily mart's history, and the newest refreshed_at
    (Unix seconds; None for an empty mart).

    Raises:
        psycopg.Error: the mart cannot be read (not built yet, no privilege).
    """
    totals = []
    for bcp_name, tool_name, flat, sums in conn.execute(_TOTALS).fetchall():
        width = len(SEMCONV_BOUNDS_S) + 1
        counts = {
            cls: [int(n) for n in flat[k * width : (k + 1) * width]]
            for k, cls in enumerate(ERROR_CLASSES)
        }
        totals.append(
            ToolTotals(
                bcp_name,
                tool_name,
                counts,
                {cls: int(sums[k] or 0) for k, cls in enumerate(ERROR_CLASSES)},
            )
        )
    refreshed = db.scalar(conn, _FRESHNESS)
    return totals, None if refreshed is None else float(refreshed)


class MartCollector(Collector):
    """Reads the marts at every `collect()` (one scrape) through `connect()`, a function
    returning a new connection (closed after the read)."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily | CounterMetricFamily]:
        with self._connect() as conn:
            totals, refreshed = read_totals(conn)
        duration = HistogramMetricFamily(
            "mcp_server_operation_duration_seconds",
            "Duration of MCP server operations (OpenTelemetry mcp.server.operation.duration),"
            " from analytics.daily_tool_usage_summary",
            labels=LABELS,
            unit="seconds",
        )
        calls = CounterMetricFamily(
            "mcp_server_tool_calls",
            "Tool calls per error class (error_type empty for calls that succeeded)",
            labels=LABELS,
        )
        for tool in totals:
            for cls in ERROR_CLASSES:
                counts = tool.counts[cls]
                total = sum(counts)
                if not total:
                    continue
                labels = [tool.bcp_name, tool.tool_name, TOOL_CALL_METHOD, _error_type(cls)]
                cumulative, running = [], 0
                for bound, n in zip((*SEMCONV_BOUNDS_S, float("inf")), counts, strict=True):
                    running += n
                    cumulative.append((_le(bound), running))
                duration.add_metric(labels, cumulative, sum_value=tool.sums_ms[cls] / 1000)
                calls.add_metric(labels, total)
        yield duration
        yield calls
        freshness = GaugeMetricFamily(
            "mcp_analytics_mart_refreshed_timestamp_seconds",
            "When the newest row of analytics.daily_tool_usage_summary was recomputed"
            " (Unix time): how current the figures above are",
            labels=["mart"],
        )
        if refreshed is not None:
            freshness.add_metric(["daily_tool_usage_summary"], refreshed)
        yield freshness


def _error_type(error_class: str) -> str:
    # OpenTelemetry sets error.type only on failed operations; an empty label is no label
    return "" if error_class == "ok" else error_class


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)

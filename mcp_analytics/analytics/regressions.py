"""Release and week-over-week regressions of tools, as `analytics.tool_regressions` lists them.

The rule lives in the mart (dbt_project/models/marts/tool_regressions.sql, docs/analytics.md
"Release regressions"); this module reads its rows for the Dagster check and for people.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import class_row

from mcp_analytics.warehouse import db

#: The comparisons the mart makes.
COMPARISONS = ("release", "week_over_week")

_COLUMNS = (
    "comparison, bcp_name, tool_name, metric, version, previous_version, before_value, "
    "after_value, ratio, p_value, threshold, calls_before, calls_after, errors_before, "
    "errors_after, before_first_called_at, before_last_called_at, after_first_called_at, "
    "after_last_called_at"
)


class RegressionsNotBuiltError(LookupError):
    """analytics.tool_regressions does not exist yet (no dbt build since it was added)."""


@dataclass(frozen=True)
class Regression:
    """One regressed metric of one tool: `before_value` and `after_value` are an error rate
    (share of calls without caller errors, 0..1) or a p95 in milliseconds; `calls_*` count
    the calls each side (without caller errors for the error rate)."""

    comparison: str
    bcp_name: str
    tool_name: str
    metric: str
    version: str | None
    previous_version: str | None
    before_value: Decimal
    after_value: Decimal
    ratio: Decimal | None
    p_value: float | None
    threshold: Decimal
    calls_before: int
    calls_after: int
    errors_before: int | None
    errors_after: int | None
    before_first_called_at: datetime
    before_last_called_at: datetime
    after_first_called_at: datetime
    after_last_called_at: datetime

    @property
    def tool(self) -> str:
        """`<bcp_name>/<tool_name>`."""
        return f"{self.bcp_name}/{self.tool_name}"

    def describe(self) -> str:
        """One line for people, e.g. `crm/search error_rate 0.01 -> 0.04 (p = 1.6e-07, 1.9.0
        -> 1.10.0, 1000/1000 calls)`."""
        sides = (
            f"{self.previous_version} -> {self.version}"
            if self.comparison == "release"
            else "last week -> this week"
        )
        verdict = (
            f"p = {self.p_value:.2g}"
            if self.p_value is not None
            else f"x{float(self.ratio or 0):.2f}"
        )
        return (
            f"{self.tool} {self.metric} {self.before_value} -> {self.after_value} ({verdict}, "
            f"{sides}, {self.calls_before}/{self.calls_after} calls)"
        )

    def figures(self) -> dict[str, Any]:
        """The row as JSON-ready values (numbers as float, times as ISO 8601)."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[name] = value
        return out


def read_regressions(conn: psycopg.Connection, comparison: str | None = None) -> list[Regression]:
    """The mart's rows (of one comparison, `release` or `week_over_week`, or all), ordered by
    server, tool and metric.

    Raises:
        ValueError: an unknown comparison.
        RegressionsNotBuiltError: the mart does not exist yet.
    """
    if comparison is not None and comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {', '.join(COMPARISONS)}, got {comparison!r}")
    if db.scalar(conn, "select to_regclass('analytics.tool_regressions')") is None:
        raise RegressionsNotBuiltError(
            "analytics.tool_regressions does not exist yet: run `mcp-analytics build`"
        )
    where = "" if comparison is None else " where comparison = %s"
    with conn.cursor(row_factory=class_row(Regression)) as cur:
        cur.execute(
            f"select {_COLUMNS} from analytics.tool_regressions{where}"
            " order by comparison, bcp_name, tool_name, metric",
            () if comparison is None else (comparison,),
        )
        return cur.fetchall()

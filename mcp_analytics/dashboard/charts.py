"""Chart data for the templates, and the number formats the pages use.

A chart is a JSON spec the page puts in a `data-chart` attribute; the static app.js hands it
to ECharts (the drawing is ECharts'). Shape:
`{"kind": "line"|"bar"|"spark", "x": [labels], "series": [{"name", "data", "axis"}],
"axes": [names], "stack": bool}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mcp_analytics.dashboard.windows import Window


def labels(window: Window, buckets: Sequence[datetime]) -> list[str]:
    """Bucket starts as the chart's x labels (UTC)."""
    fmt = "%m-%d %H:00" if window.grain == "hour" else "%Y-%m-%d"
    return [b.strftime(fmt) for b in buckets]


def spec(
    kind: str,
    x: Sequence[Any],
    series: Sequence[dict[str, Any]],
    axes: Sequence[str] = (),
    stack: bool = False,
) -> dict[str, Any]:
    return {"kind": kind, "x": list(x), "series": list(series), "axes": list(axes), "stack": stack}


def series(name: str, data: Sequence[Any], axis: int = 0) -> dict[str, Any]:
    return {"name": name, "data": [_plain(v) for v in data], "axis": axis}


def stacked_series(values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """One series per name of `values` ({name: data per bucket}), in its order."""
    return [series(name, data) for name, data in values.items()]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    return round(float(value), 3)


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_ms(value: Any) -> str:
    if value is None:
        return "–"
    value = float(value)
    return f"{value / 1000:,.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


def fmt_pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.2f} %"


def fmt_change(value: Any) -> str:
    """A relative change as a signed percentage (0.25 -> +25 %)."""
    return "–" if value is None else f"{float(value) * 100:+.1f} %"


def fmt_points(value: Any) -> str:
    """A difference of rates in percentage points (0.02 -> +2.00 pt)."""
    return "–" if value is None else f"{float(value) * 100:+.2f} pt"


def fmt_time(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M UTC")


FILTERS = {
    "int": fmt_int,
    "ms": fmt_ms,
    "pct": fmt_pct,
    "change": fmt_change,
    "points": fmt_points,
    "time": fmt_time,
}


def error_class_series(points: Sequence[Any]) -> list[dict[str, Any]]:
    """One series per error class (tool, caller, server, transport) of Points' `classes`."""
    from mcp_analytics.dashboard.marts import ERROR_CLASSES

    return [
        series(name.replace("_", " "), [p.classes.get(name, 0) for p in points])
        for name in ERROR_CLASSES
    ]


def error_day_chart(days: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Errors per day stacked by level, from rows of analytics.daily_error_summary."""
    day_list = sorted({r["day"] for r in days})
    levels = sorted({r["level"] for r in days})
    counts = {(r["day"], r["level"]): 0 for r in days}
    for r in days:
        counts[(r["day"], r["level"])] += int(r["error_count"])
    return spec(
        "bar",
        [d.strftime("%Y-%m-%d") for d in day_list],
        [series(level, [counts.get((d, level), 0) for d in day_list]) for level in levels],
        stack=True,
    )

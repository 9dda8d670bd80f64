"""p95 per tool over a 30-day window: from the marts' histograms against the raw rows.

`python -m bench.bench_percentiles [--tool-calls 1000000] [--days 30] [--repeats 9]`
(standalone; prints Markdown). On a throwaway bootstrapped database:

1. the demo workload (`mcp-analytics demo`'s loader: `--tool-calls` calls over `--days` days),
   then `dbt run` builds the tool marts (hourly and daily) and `vacuum analyze`;
2. each query below runs `--repeats` times, rounds interleaved (the machine's speed drifts
   within minutes), one warm-up round first; the median server time of each, and its ratio
   to the baseline's median;
3. the baseline: exact `percentile_cont(0.95)` per tool over the raw rows of the window (what
   one would run without marts). Every estimate is checked against it (within 1/128) and the
   packed and jsonb forms against each other (identical);
4. where the time goes: the daily sum alone (no quantile read), and the daily sum read by
   105's function (which unpacked the number as text; 116 replaced it by arithmetic),
   recreated in pg_temp from the bootstrap file (identical values, checked).

The window is the last 30 days of the demo, hour-aligned, starting mid-day (so that the
"any window" query has edge hours on both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import Option, parse_options, throwaway_db
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import WorkloadSpec, default_end

RAW = """
select tool_name, percentile_cont(0.95) within group (order by duration_ms) as p95
from tool_usage_logs
where "timestamp" >= %(start)s and "timestamp" < %(end)s
group by tool_name
"""


#: the command line's options (`--name value`)
OPTIONS = {
    "tool-calls": Option(1_000_000, "demo calls (1,000,000)", 1),
    "days": Option(30, "demo span in days (30)", 1),
    "repeats": Option(9, "rounds of the queries after the warm-up (9)", 1),
    "database-url": Option(
        "",
        "measure on this database, which already holds the demo and the built tool"
        " marts (nothing is loaded or dropped)",
    ),
}


def _mart_p95(p95: str, mart: str, bucket: str, start: str = "start", end: str = "end") -> str:
    """A query of the p95 per tool (the expression `p95`) over the rows of analytics.`mart`
    whose `bucket` column is in [%(`start`)s, %(`end`)s)."""
    return f"""
select tool_name, {p95} as p95
from analytics.{mart}
where {bucket} >= %({start})s and {bucket} < %({end})s
group by tool_name
"""


PACKED_P95 = "mart_hist_quantile(sum(duration_histogram_packed), 0.95)"
# The documented one-liner as it was: jsonb histograms of the hours (aggregate since made linear).
JSONB_HOURS = _mart_p95(
    "mart_hist_quantile(mart_hist_merge(duration_histogram), 0.95)",
    "hourly_tool_usage_summary",
    "hour",
)
PACKED_HOURS = _mart_p95(PACKED_P95, "hourly_tool_usage_summary", "hour")
# Whole UTC days (the window rounded inwards to days): the daily rows only.
PACKED_DAYS = _mart_p95(PACKED_P95, "daily_tool_usage_summary", "day", "start_day", "end_day")

# Any hour-aligned window (docs/dbt.md): the daily rows of its whole days, the hourly rows of
# the hours around them.
PACKED_ANY = """
with windowed as (
    select tool_name, duration_histogram_packed as h
    from analytics.daily_tool_usage_summary
    where day >= %(start_day)s and day < %(end_day)s
    union all
    select tool_name, duration_histogram_packed
    from analytics.hourly_tool_usage_summary
    where hour >= %(start)s and hour < %(end)s
        and (hour < %(start_day)s or hour >= %(end_day)s)
)
select tool_name, mart_hist_quantile(sum(h), 0.95) as p95
from windowed
group by tool_name
"""

# Where the time goes: the same daily sum without reading a quantile, and read by 105's
# function (the summed number written out as text and split into buckets), recreated in pg_temp.
PACKED_DAYS_SUM_ONLY = PACKED_DAYS.replace(
    "mart_hist_quantile(sum(duration_histogram_packed), 0.95)",
    "(sum(duration_histogram_packed) is not null)::integer",
)
PACKED_DAYS_UNPACKING = PACKED_DAYS.replace(
    "mart_hist_quantile(", "(pg_temp.old_hist_quantiles("
).replace(", 0.95) as p95", ", array[0.95]))[1] as p95")

# name: (query, window, role): "exact" is the baseline, each "estimate" is checked within 1/128
# of it, "timing" only timed.
QUERIES = {
    "raw rows, exact percentile_cont (baseline)": (RAW, "window", "exact"),
    "hourly mart, jsonb: mart_hist_merge(duration_histogram)": (JSONB_HOURS, "window", "estimate"),
    "hourly mart, packed: sum(duration_histogram_packed)": (PACKED_HOURS, "window", "estimate"),
    "daily mart, packed (whole days of the window)": (PACKED_DAYS, "days", "estimate"),
    "daily + edge hours, packed (the same window)": (PACKED_ANY, "window", "estimate"),
    "daily mart, packed: the sum alone, no quantile read": (PACKED_DAYS_SUM_ONLY, "days", "timing"),
    "daily mart, packed, read by 105's unpacking function": (
        PACKED_DAYS_UNPACKING,
        "days",
        "estimate",
    ),
}


def unpacking_quantiles_sql() -> list[str]:
    """105's mart_hist_unpack and mart_hist_quantiles(numeric, float8[]) (which 116 replaced),
    from the bootstrap file's text, as pg_temp.old_hist_unpack and pg_temp.old_hist_quantiles.

    Raises LookupError when the file no longer holds them."""
    text = (
        Path(__file__).resolve().parents[1] / "bootstrap_sql" / "105_packed_histograms.sql"
    ).read_text()
    definitions = []
    for name in ("mart_hist_unpack", "mart_hist_quantiles"):
        found = re.search(rf"create function {name}\(h numeric.*?\n\$\$;\n", text, re.S)
        if found is None:
            raise LookupError(
                f"{name}(numeric) not found in bootstrap_sql/105_packed_histograms.sql"
            )
        definitions.append(
            found.group(0)
            .replace("create function mart_hist_", "create function pg_temp.old_hist_")
            .replace("public.mart_hist_unpack(", "pg_temp.old_hist_unpack(")
        )
    return definitions


def _prepare(url: str, calls: int, days: int) -> dict[str, datetime]:
    spec = WorkloadSpec(days=days, tool_calls=calls, seed=42, end=default_end())
    load(url, spec, say=lambda *_: None)
    with tempfile.TemporaryDirectory() as target:
        proc = run_dbt(
            ["run", "--select", "+daily_tool_usage_summary"],
            url=url,
            target_path=Path(target),
            capture=True,
        )
        if proc.returncode:
            raise SystemExit(f"dbt run failed:\n{proc.stdout[-3000:]}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return window_of(url)


def window_of(url: str) -> dict[str, datetime]:
    """The 30-day window the queries read, as their parameters: start and end (the newest
    hour of hourly_tool_usage_summary less 11 hours: mid-day, so the window has edge hours on
    both sides), start_day and end_day (its whole UTC days)."""
    with psycopg.connect(url, autocommit=True) as conn:
        last = conn.execute("select max(hour) from analytics.hourly_tool_usage_summary").fetchone()[
            0
        ]
    end = last.astimezone(UTC) - timedelta(hours=11)
    start = end - timedelta(days=30)
    start_day = (start + timedelta(days=1)).replace(hour=0)
    end_day = end.replace(hour=0)
    return {"start": start, "end": end, "start_day": start_day, "end_day": end_day}


def _run(conn: psycopg.Connection, query: str, params: dict[str, datetime]) -> tuple[float, dict]:
    began = time.perf_counter()
    rows = conn.execute(query, params).fetchall()
    return (time.perf_counter() - began) * 1000, dict(rows)


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, datetime]]]:
    if args.database_url:
        yield args.database_url, window_of(args.database_url)
        return
    with throwaway_db("mcpa_bench_pct") as url:
        yield url, _prepare(url, args.tool_calls, args.days)


def main(argv: list[str] | None = None) -> int:
    args = parse_options(
        "python -m bench.bench_percentiles", argv, OPTIONS, description=__doc__.split("\n")[0]
    )

    with _database(args) as (url, params):
        times: dict[str, list[float]] = {name: [] for name in QUERIES}
        results: dict[str, dict] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set jit = off")
            for definition in unpacking_quantiles_sql():
                conn.execute(definition)
            for round_ in range(args.repeats + 1):
                for name, (query, _, _) in QUERIES.items():
                    elapsed, rows = _run(conn, query, params)
                    results[name] = rows
                    if round_:  # the first round warms the caches
                        times[name].append(elapsed)
            hourly_rows, daily_rows = conn.execute(
                "select (select count(*) from analytics.hourly_tool_usage_summary"
                " where hour >= %(start)s and hour < %(end)s),"
                " (select count(*) from analytics.daily_tool_usage_summary"
                " where day >= %(start_day)s and day < %(end_day)s)",
                params,
            ).fetchone()

    names = list(QUERIES)
    exact = results[names[0]]
    estimates = [name for name, (_, _, role) in QUERIES.items() if role == "estimate"]
    for name in estimates:
        for tool, p95 in results[name].items():
            if abs(p95 - exact[tool]) > exact[tool] / 128 + 1e-9:
                print(f"{name}: {tool} p95 {p95} vs exact {exact[tool]}", file=sys.stderr)
                return 1
    # the same histograms in either form, and both reading functions, give the same values
    same = [results[name] for name in estimates if QUERIES[name][1] == "days"]
    if results[names[1]] != results[names[2]] or any(r != same[0] for r in same):
        print(
            "packed and jsonb histograms, or 116's and 105's functions, disagree", file=sys.stderr
        )
        return 1

    baseline = statistics.median(times[names[0]])
    print(
        f"## p95 per tool over 30 days ({args.tool_calls:,} calls over {args.days} days,"
        f" {len(exact)} tools; window {params['start']:%Y-%m-%d %H:%M} to"
        f" {params['end']:%Y-%m-%d %H:%M} UTC: {hourly_rows:,} hourly rows,"
        f" {daily_rows:,} daily rows of whole days)\n"
    )
    print("| query | median ms | min ms | / baseline |")
    print("|---|---|---|---|")
    for name in names:
        median = statistics.median(times[name])
        print(f"| {name} | {median:.1f} | {min(times[name]):.1f} | {median / baseline:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

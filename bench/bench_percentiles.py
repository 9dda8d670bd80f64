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
   packed and jsonb forms against each other (identical).

The window is the last 30 days of the demo, hour-aligned, starting mid-day (so that the
"any window" query has edge hours on both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import throwaway_db
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import WorkloadSpec, default_end

RAW = """
select tool_name, percentile_cont(0.95) within group (order by duration_ms) as p95
from tool_usage_logs
where "timestamp" >= %(start)s and "timestamp" < %(end)s
group by tool_name
"""

# The documented one-liner as it was: jsonb histograms of the hours (aggregate since made linear).
JSONB_HOURS = """
select tool_name, mart_hist_quantile(mart_hist_merge(duration_histogram), 0.95) as p95
from analytics.hourly_tool_usage_summary
where hour >= %(start)s and hour < %(end)s
group by tool_name
"""

PACKED_HOURS = """
select tool_name, mart_hist_quantile(sum(duration_histogram_packed), 0.95) as p95
from analytics.hourly_tool_usage_summary
where hour >= %(start)s and hour < %(end)s
group by tool_name
"""

# Whole UTC days (the window rounded inwards to days): the daily rows only.
PACKED_DAYS = """
select tool_name, mart_hist_quantile(sum(duration_histogram_packed), 0.95) as p95
from analytics.daily_tool_usage_summary
where day >= %(start_day)s and day < %(end_day)s
group by tool_name
"""

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

QUERIES = {
    "raw rows, exact percentile_cont (baseline)": (RAW, "window"),
    "hourly mart, jsonb: mart_hist_merge(duration_histogram)": (JSONB_HOURS, "window"),
    "hourly mart, packed: sum(duration_histogram_packed)": (PACKED_HOURS, "window"),
    "daily mart, packed (whole days of the window)": (PACKED_DAYS, "days"),
    "daily + edge hours, packed (the same window)": (PACKED_ANY, "window"),
}


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
    return _window(url)


def _window(url: str) -> dict[str, datetime]:
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
        yield args.database_url, _window(args.database_url)
        return
    with throwaway_db("mcpa_bench_pct") as url:
        yield url, _prepare(url, args.tool_calls, args.days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_percentiles", description=__doc__.split("\n")[0])
    parser.add_argument("--tool-calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--database-url",
        help="measure on this database, which already holds the demo and the built tool marts"
        " (nothing is loaded or dropped)",
    )
    args = parser.parse_args(argv)

    with _database(args) as (url, params):
        times: dict[str, list[float]] = {name: [] for name in QUERIES}
        results: dict[str, dict] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set jit = off")
            for round_ in range(args.repeats + 1):
                for name, (query, _) in QUERIES.items():
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
    for name in names[1:3] + names[4:]:
        for tool, p95 in results[name].items():
            if abs(p95 - exact[tool]) > exact[tool] / 128 + 1e-9:
                print(f"{name}: {tool} p95 {p95} vs exact {exact[tool]}", file=sys.stderr)
                return 1
    if results[names[1]] != results[names[2]]:
        print("packed and jsonb histograms disagree", file=sys.stderr)
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

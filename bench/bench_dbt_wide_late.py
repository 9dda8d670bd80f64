"""A wide late-data range: an incremental run after `mart_mark_dirty` over months of hours,
against a full refresh of the marts, in the same run.

`python -m bench dbt_wide_late` or `python -m bench.bench_dbt_wide_late [--rows 300000]
[--days 300] [--dirty-hours 6500]` (standalone; prints Markdown). On a throwaway
bootstrapped database (monthly partitions over the whole history):

1. `--rows` tool calls and as many HTTP requests over `--days` days ending an hour ago (plus
   errors and metric samples, as bench_dbt_incremental generates them), then a first build;
2. `dbt run --select <the five marts> --full-refresh` (allowed with the var): the baseline;
3. `mart_mark_dirty(table, now() - dirty_hours, now())` for the four raw tables, as
   docs/dbt.md recommends after a side load, then the same `dbt run` without the flag;
4. each mart's execution time (dbt's run_results.json, hooks included) in (3) over (2);
5. the same incremental run with nothing left to rebuild: dbt's fixed cost per mart
   (connection, catalog queries, grants, hooks), which no amount of data changes.
   Target: an incremental run costs no more than rebuilding the affected partitions: for
   every mart, incremental <= full refresh + that fixed cost (a sub-second mart is mostly
   fixed cost), and all marts together <= 1x a full refresh.

Both runs use `--threads 1 --log-level-file none`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from bench.bench_dbt_incremental import _dbt, _generate
from bench.common import Option, mart_seconds_table, parse_options, throwaway_db

TARGET_RATIO = 1.0
#: the five marts of the raw tables' hours and days (the MCP-aware marts read other sources)
MARTS = (
    "hourly_tool_usage_summary",
    "hourly_request_summary",
    "daily_error_summary",
    "performance_metrics_summary",
    "daily_tool_usage_summary",
)
RAW_TABLES = ("tool_usage_logs", "mcp_request_logs", "error_logs", "performance_metrics")


#: the command line's options (`--name value`)
OPTIONS = {
    "rows": Option(300_000, "tool calls (300,000)", 1000),
    "days": Option(300, "days of history (300)", 2),
    "dirty-hours": Option(6500, "hours marked dirty, ending now (6,500)", 1),
}


def bench_wide(rows: int, days: int, dirty_hours: int) -> str:
    with throwaway_db("mcpa_bench_wide") as url, tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set timezone = 'UTC'")
            now = conn.execute("select date_trunc('hour', now())").fetchone()[0]
            months = days // 28 + 2
            for raw in ("tool_usage_logs", "mcp_request_logs"):  # the partitioned ones
                conn.execute("select create_monthly_partitions(%s, 1, %s)", (raw, months))
            t0 = time.perf_counter()
            _generate(conn, rows, now - timedelta(days=days), days * 24 - 1, "w")
            load_s = time.perf_counter() - t0
            conn.execute("vacuum analyze")
        _dbt(url, target, "run", "--select", "staging")
        _dbt(url, target, "run", "--select", *MARTS)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from mart_dirty_buckets")
        full = _dbt(
            url, target, "run", "--select", *MARTS, "--full-refresh",
            "--vars", "{mart_allow_full_refresh: true}",
        )  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from mart_dirty_buckets")
            for raw in RAW_TABLES:
                conn.execute(
                    "select mart_mark_dirty(%s, now() - make_interval(hours => %s), now())",
                    (raw, dirty_hours),
                )
            dirty = conn.execute("select count(*) from mart_dirty_buckets").fetchone()[0]
        incremental = _dbt(url, target, "run", "--select", *MARTS)
        idle = _dbt(url, target, "run", "--select", *MARTS)
        with psycopg.connect(url, autocommit=True) as conn:
            left = conn.execute("select count(*) from mart_dirty_buckets").fetchone()[0]
            mart_rows = conn.execute(
                "select count(*) from analytics.hourly_tool_usage_summary"
            ).fetchone()[0]

    lines = [
        f"{rows:,} tool calls + {rows:,} requests + {rows // 50:,} errors + {rows // 10:,} "
        f"metric samples over {days} days (generated in {load_s:.0f} s); "
        f"mart_mark_dirty over the last {dirty_hours:,} hours of the four raw tables "
        f"({dirty:,} ledger entries, {left} left after the run); "
        f"hourly_tool_usage_summary has {mart_rows:,} rows.",
        "",
    ]
    over = [m for m in MARTS if incremental[m] > full[m] + idle[m]]
    text, total_ratio = mart_seconds_table(
        MARTS,
        {
            "full refresh s": (full, ".2f"),
            "incremental s": (incremental, ".2f"),
            "nothing to do s": (idle, ".2f"),
        },
        ("incremental/full", "incremental s", "full refresh s", ".2f"),
    )
    lines.append(text)
    met = not over and total_ratio <= TARGET_RATIO
    lines.append(
        f"\nAll marts: {total_ratio:.2f}x a full refresh; marts above a full refresh plus "
        f"their fixed cost: {', '.join(over) or 'none'} "
        f"(target: none, and <= {TARGET_RATIO:.1f}x overall: {'met' if met else 'MISSED'})."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_options("python -m bench.bench_dbt_wide_late", argv, OPTIONS)
    started = time.perf_counter()
    print(
        f"## dbt marts: incremental after a wide late-data range vs full refresh "
        f"({args.rows:,} rows, {args.days} days, {args.dirty_hours:,} dirty hours)\n"
    )
    print(bench_wide(args.rows, args.days, args.dirty_hours), flush=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

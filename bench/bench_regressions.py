"""Release regressions: what an hourly run of the two marts costs against a full refresh.

`python -m bench.bench_regressions [--rows 1000000] [--days 30]` (standalone; prints Markdown).
On a throwaway bootstrapped database:

1. `--rows` tool calls over `--days` days ending an hour ago, 5 servers of 23 tools, three
   releases per server (at 2/3, 1/3 and 1/10 of the span before now) and calls without a
   version on one server, generated in SQL;
2. `dbt run` of daily_tool_version_summary and tool_regressions with `--full-refresh` (allowed
   with the var): the baseline;
3. one new hour of calls at the same rate, then the incremental run of both;
4. the ratio of the models' own execution times (dbt's run_results.json, hooks included) of
   (3) to (2). daily_tool_version_summary rebuilds the new hour's day; tool_regressions is
   rebuilt whole each run, from the version summary (one row per day, tool and version).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import Option, parse_options, table, throwaway_db
from mcp_analytics.dbt.runner import model_timings, run_dbt

MODELS = ("daily_tool_version_summary", "tool_regressions")
DBT_FLAGS = ("--threads", "1", "--log-level-file", "none")

CALLS = """
insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms, success,
    error_code, error_class, tool_version, "timestamp")
select %(tag)s || '-' || g, bcp, tool, 'tools/call', (exp(r1 * 7))::integer, outcome = 'ok',
    case outcome when 'server_error' then '-32603' when 'caller_error' then '-32602' end,
    outcome,
    case
        when bcp = 'srv_4' then null
        when at >= %(end)s - %(span)s::interval / 10 then '3.0.0'
        when at >= %(end)s - %(span)s::interval / 3 then '2.1.0'
        when at >= %(end)s - %(span)s::interval * 2 / 3 then '2.0.0'
        else '1.9.0'
    end,
    at
from (
    select g, 'srv_' || mod(g, 5) as bcp, 'tool_' || mod(g / 5, 23) as tool, random() as r1,
        case when random() < 0.02 then 'server_error' when random() < 0.03 then 'caller_error'
            else 'ok' end as outcome,
        %(start)s::timestamptz + random() * (%(end)s - %(start)s::timestamptz) as at
    from generate_series(1, %(n)s) as g
) as calls
"""


#: the command line's options (`--name value`)
OPTIONS = {
    "rows": Option(1_000_000, "tool calls (1,000,000)", 1),
    "days": Option(30, "days of history (30)", 1),
}


def _generate(url: str, n: int, start: datetime, end: datetime, span: timedelta, tag: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select setseed(0.5)")
        params = {"tag": tag, "n": n, "start": start, "end": end, "span": f"{span.days} days"}
        conn.execute(CALLS, params)


def _dbt(url: str, target: Path, *args: str) -> dict[str, float]:
    proc = run_dbt([*args, *DBT_FLAGS], url=url, target_path=target, capture=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    timings = model_timings(target)
    return {m: timings[m] for m in MODELS if m in timings}


def bench_regressions(rows: int, days: int) -> str:
    select = ("--select", *MODELS)
    with throwaway_db("mcpa_bench_regr") as url, tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp)
        with psycopg.connect(url, autocommit=True) as conn:
            now = conn.execute("select date_trunc('hour', now())").fetchone()[0]
            conn.execute("select create_monthly_partitions('tool_usage_logs', 1, 2)")
        span = timedelta(days=days)
        t0 = time.perf_counter()
        _generate(url, rows, now - span, now - timedelta(hours=1), span, "h")
        load_s = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze tool_usage_logs")
        _dbt(url, target, "run", "--select", "stg_mcp__tool_usage_logs")
        _dbt(url, target, "run", *select)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from mart_dirty_buckets")
        full = _dbt(
            url, target, "run", *select, "--full-refresh",
            "--vars", "{mart_allow_full_refresh: true}",
        )  # fmt: skip
        per_hour = max(1, rows // (days * 24))
        _generate(url, per_hour, now - timedelta(hours=1), now, span, "new")
        incremental = _dbt(url, target, "run", *select)
        with psycopg.connect(url, autocommit=True) as conn:
            summary_rows = conn.execute(
                "select count(*) from analytics.daily_tool_version_summary"
            ).fetchone()[0]
            regressions = conn.execute(
                "select count(*) from analytics.tool_regressions"
            ).fetchone()[0]
    body = [
        [m, f"{full[m]:.2f}", f"{incremental[m]:.3f}", f"{incremental[m] / full[m]:.1%}"]
        for m in MODELS
    ]
    total_full, total_inc = sum(full.values()), sum(incremental.values())
    body.append(
        ["**both**", f"{total_full:.2f}", f"{total_inc:.3f}", f"{total_inc / total_full:.1%}"]
    )
    return "\n".join(
        [
            f"{rows:,} tool calls over {days} days (generated in {load_s:.0f} s), one new hour ="
            f" {per_hour:,} calls; daily_tool_version_summary has {summary_rows:,} rows;"
            f" tool_regressions lists {regressions}.",
            "",
            table(["model", "full refresh s", "incremental s", "incremental/full"], body),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_options(
        "python -m bench.bench_regressions", argv, OPTIONS, description=__doc__.splitlines()[0]
    )
    print(bench_regressions(args.rows, args.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())

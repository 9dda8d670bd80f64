"""Incremental dbt marts vs a full refresh, and the late-data trigger's cost on ingest.

`python -m bench.bench_dbt_incremental [--rows 1000000] [--days 30]` (standalone; prints
Markdown). On a throwaway bootstrapped database:

1. `--rows` tool calls and as many HTTP requests over `--days` days ending an hour ago (plus
   errors and metric samples), generated in SQL;
2. `dbt run --select marts --full-refresh` (allowed with the var) — the baseline; every model
   under models/marts is measured, the newest ones too;
3. one new hour of data at the same rate, then `dbt run --select marts` (incremental);
4. the ratio of the marts' own execution times (dbt's target/run_results.json, hooks
   included) of (3) to (2). Target: <= 5 %. Both runs use `--threads 1 --log-level-file none`;
   the 15 slowest nodes of each (the per-node split: which mart the incremental run spends on);
5. the runs Dagster makes after one new hour, executed in-process with real dbt: the
   dirty-ledger sensor's (only the marts the ledger has work for, with their checks) after a
   new hour of every table and after one of tool calls only, and the hourly schedule's whole
   `hourly_marts` job after another: the marts' and tests' times and the wall time.

Then the ingest cost of the statement-level triggers that feed the late-data ledger: the same
inserts into tool_usage_logs with and without the triggers, at 1, 50 and 1000 rows per
statement.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg

from bench.bench_freshness import evaluate_sensor, execute_request, progress, selected_marts
from bench.common import node_seconds, run_context, table, throwaway_db, top_nodes
from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import model_timings, run_dbt
from mcp_analytics.demo.synthetic import Shape, load_synthetic
from mcp_analytics.orchestration.definitions import build_definitions

TARGET_RATIO = 0.05


# The benchmark's shape: realistic group counts (the tests keep theirs small).
SHAPE = Shape(users=200, bcps=5, tools=11, sessions=5000, user_prefix="bench_")


def _generate(conn: psycopg.Connection, rows: int, start: datetime, hours: float, tag: str) -> None:
    """`rows` calls and requests, rows/50 errors, rows/10 metric samples in [start, +hours)."""
    load_synthetic(
        conn, start=start, hours=hours, calls=rows, requests=rows, errors=rows // 50,
        metrics=rows // 10, tag=tag, shape=SHAPE,
    )  # fmt: skip


# One thread: a model's time is its own, not shared with a neighbour's on the same CPUs; no
# debug log file: its writes are a fixed per-statement cost unrelated to the data.
DBT_FLAGS = ("--threads", "1", "--log-level-file", "none")


def _dbt(url: str, target: Path, *args: str) -> dict[str, float]:
    proc = run_dbt([*args, *DBT_FLAGS], url=url, target_path=target, capture=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    # every model the selection ran: a mart added to models/marts is measured without a change
    # here (the staging views are run, and measured, only by the `staging` selection)
    return model_timings(target)


def bench_incremental(rows: int, days: int) -> str:
    with throwaway_db("mcpa_bench_dbt") as url, tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set timezone = 'UTC'")
            now = conn.execute("select date_trunc('hour', now())").fetchone()[0]
            conn.execute("select create_monthly_partitions('tool_usage_logs', 1, 2)")
            conn.execute("select create_monthly_partitions('mcp_request_logs', 1, 2)")
            t0 = time.perf_counter()
            start = now - timedelta(days=days)
            _generate(conn, rows, start, days * 24 - 1, "h")
            load_s = time.perf_counter() - t0
            conn.execute("vacuum analyze")
        progress(f"dbt_incremental: {rows:,} rows generated in {load_s:.0f} s")
        _dbt(url, target, "run", "--select", "staging")
        progress("dbt_incremental: first build of the marts")
        first = _dbt(url, target, "run", "--select", "marts")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from mart_dirty_buckets")
        progress("dbt_incremental: full refresh (the baseline)")
        full = _dbt(
            url, target, "run", "--select", "marts", "--full-refresh",
            "--vars", "{mart_allow_full_refresh: true}",
        )  # fmt: skip
        full_nodes = node_seconds(target)
        per_hour = max(1, rows // (days * 24))
        with psycopg.connect(url, autocommit=True) as conn:
            # the history ends an hour ago: this is the hour after it
            start = conn.execute("select date_trunc('hour', now()) - interval '1 hour'").fetchone()[
                0
            ]
            _generate(conn, per_hour, start, 1, "new")
            dirty = conn.execute("select count(*) from mart_dirty_buckets").fetchone()[0]
        progress(f"dbt_incremental: incremental run after one new hour ({dirty} entries)")
        incremental = _dbt(url, target, "run", "--select", "marts")
        incremental_nodes = node_seconds(target)
        # the same run with nothing to do: dbt's fixed cost per mart (connection, catalog
        # queries, grants, hooks), which no amount of data changes
        idle = _dbt(url, target, "run", "--select", "marts")
        with psycopg.connect(url, autocommit=True) as conn:
            mart_rows = conn.execute(
                "select count(*) from analytics.hourly_tool_usage_summary"
            ).fetchone()[0]
        progress("dbt_incremental: the sensor's runs and the schedule's")
        runs = bench_sensor_runs(url, per_hour, sum(full.values()))

    lines = [
        f"{rows:,} tool calls + {rows:,} requests + {rows // 50:,} errors + {rows // 10:,} "
        f"metric samples over {days} days (generated in {load_s:.0f} s); one new hour = "
        f"{per_hour:,} calls and as many requests ({dirty} ledger entries); "
        f"hourly_tool_usage_summary has {mart_rows:,} rows.",
        "",
    ]
    body = []
    for mart in sorted(full, key=lambda m: -full[m]):
        body.append(
            [
                mart,
                f"{first[mart]:.2f}",
                f"{full[mart]:.2f}",
                f"{incremental[mart]:.3f}",
                f"{incremental[mart] / full[mart]:.1%}",
            ]
        )
    total_full = sum(full.values())
    total_inc = sum(incremental.values())
    ratio = total_inc / total_full
    body.append(
        ["**all marts**", f"{sum(first.values()):.2f}", f"{total_full:.2f}", f"{total_inc:.3f}",
         f"**{ratio:.1%}**"]
    )  # fmt: skip
    lines.append(
        table(
            ["mart", "first build s", "full refresh s", "incremental s", "incremental/full"], body
        )
    )
    total_idle = sum(idle.values())
    lines.append(
        f"\nThe same incremental run with nothing to rebuild takes {total_idle:.3f} s "
        f"({total_idle / total_full:.1%} of the full refresh): dbt's fixed cost per mart. "
        f"The data-dependent part of the incremental run is {total_inc - total_idle:.3f} s "
        f"({(total_inc - total_idle) / total_full:.1%})."
    )
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    lines.append(f"\nIncremental run after one new hour: {ratio:.1%} of a full refresh "
                 f"(target <= {TARGET_RATIO:.0%}: {verdict}).")  # fmt: skip
    for title, nodes in (
        ("the incremental run after one new hour", incremental_nodes),
        ("the full refresh", full_nodes),
    ):
        lines += [f"\nThe 15 slowest nodes of {title} (run_results.json):\n", top_nodes(nodes)]
    lines.append(
        "\n### The runs Dagster makes after one new hour\n\nThe dirty-ledger sensor's run "
        "(only the marts the ledger has work for and those built on them, with their dbt "
        "tests as checks) against the hourly schedule's (the whole `hourly_marts` job: staging "
        "views, source tests, every mart and test), each executed in-process with real dbt "
        "after its own new hour:\n"
    )
    lines.append(runs)
    return "\n".join(lines)


def _node_times(run_id: str) -> tuple[float, int, float, int]:
    """(models s, models, tests s, tests) of the dbt invocation of the Dagster run `run_id`
    (its target folder under dbt_target_dir is named after the run)."""
    found = sorted(settings().dbt_target_dir.glob(f"dbt_models-{run_id[:7]}-*/run_results.json"))
    if not found:
        return float("nan"), 0, float("nan"), 0
    nodes = node_seconds(found[-1].parent)
    models = [s for name, s in nodes.items() if name.startswith("model ")]
    tests = [s for name, s in nodes.items() if name.startswith("test ")]
    return sum(models), len(models), sum(tests), len(tests)


def _new_hour(url: str, per_hour: int, tag: str, calls_only: bool) -> None:
    """An hour's worth of rows in the last hour before now (as a sensor tick finds them: the
    hour being filled): every table, or tool calls only (as OTLP spans bring them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        start = conn.execute("select now() - interval '1 hour'").fetchone()[0]
        load_synthetic(
            conn, start=start, hours=1, calls=per_hour, requests=0 if calls_only else per_hour,
            errors=0 if calls_only else per_hour // 50, metrics=0 if calls_only else per_hour // 10,
            tag=tag, shape=SHAPE,
        )  # fmt: skip


def bench_sensor_runs(url: str, per_hour: int, full_models_s: float) -> str:
    """The runs Dagster makes after one new hour: the sensor's (only the marts the ledger has
    work for, with their checks) against the hourly schedule's (the whole hourly_marts job),
    each executed in this process with real dbt; wall time includes dbt's start and parse and
    Dagster's events."""
    defs = build_definitions(url)
    sensor = defs.resolve_sensor_def("dirty_marts_sensor")
    job = defs.resolve_job_def("hourly_marts")
    body = []
    scenarios = [
        ("sensor", "every table", False),
        ("sensor", "tool calls only", True),
        ("schedule (whole job)", "every table", False),
    ]
    with dg.DagsterInstance.ephemeral() as instance:
        for n, (who, data, calls_only) in enumerate(scenarios):
            _new_hour(url, per_hour, f"sensor{n}", calls_only)
            if who == "sensor":
                result = evaluate_sensor(sensor, url, instance, None)
                assert isinstance(result, dg.SensorResult), result
                request = result.run_requests[0]
            else:
                request = dg.RunRequest(run_key=f"schedule-{n}")
            progress(f"dbt_incremental: {who} after a new hour of {data}: "
                     f"{selected_marts(request)}")  # fmt: skip
            t0 = time.perf_counter()
            outcome = execute_request(job, request, instance)
            wall = time.perf_counter() - t0
            if not outcome.success:
                raise RuntimeError(f"the {who} run failed ({outcome.run_id})")
            models_s, models, tests_s, tests = _node_times(outcome.run_id)
            progress(f"dbt_incremental: ... {wall:.0f} s")
            body.append(
                [who, data, f"{models} / {tests}", f"{models_s:.1f}",
                 f"{models_s / full_models_s:.1%}", f"{tests_s:.1f}", f"{wall:.1f}"]
            )  # fmt: skip
    return table(
        ["run", "new hour of", "models / tests", "models s", "models / full refresh",
         "tests s", "wall s (Dagster, dbt build)"],
        body,
    )  # fmt: skip


def _insert_batches(conn: psycopg.Connection, total: int, batch: int, triggers: bool) -> float:
    action = "enable" if triggers else "disable"
    conn.execute(f"alter table tool_usage_logs {action} trigger mart_dirty_on_insert")
    conn.execute("truncate tool_usage_logs")
    conn.execute("delete from mart_dirty_buckets")
    with contextlib.suppress(psycopg.Error):  # needs superuser or pg_checkpoint
        conn.execute("checkpoint")
    statement = """
        insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,
            duration_ms, success, session_id, parameters, "timestamp")
        select %s::text || '-' || g, 'bcp_1', 'tool_' || (g %% 7), 'read',
            (random() * 1000)::integer, true, 'session_1',
            jsonb_build_object('query', md5(g::text), 'limit', g %% 100),
            now() - random() * interval '2 hours'
        from generate_series(1, %s) as g
    """
    t0 = time.perf_counter()
    for i in range(total // batch):
        conn.execute(statement, (f"b{batch}-{i}-{triggers}", batch))
    return time.perf_counter() - t0


def bench_trigger_cost(rows: int, rounds: int = 4) -> str:
    """Same inserts with the insert trigger enabled and disabled, alternated, median of rounds."""
    body = []
    with throwaway_db("mcpa_bench_trg") as url, psycopg.connect(url, autocommit=True) as conn:
        for batch in (1, 50, 1000):
            n = min(rows, 10_000) if batch == 1 else rows
            with_t, without = [], []
            for round_no in range(rounds):
                # alternate which arm goes first, so warm-up favours neither
                for triggers in (False, True) if round_no % 2 == 0 else (True, False):
                    seconds = _insert_batches(conn, n, batch, triggers=triggers)
                    (with_t if triggers else without).append(seconds)
            w, wo = statistics.median(with_t), statistics.median(without)
            body.append(
                [
                    f"{batch} row(s) per insert",
                    f"{n:,}",
                    f"{n / wo:,.0f}",
                    f"{n / w:,.0f}",
                    f"{w / wo - 1:+.1%}",
                ]
            )
        conn.execute("alter table tool_usage_logs enable trigger mart_dirty_on_insert")
    return (
        table(["statement", "rows", "rows/s without trigger", "rows/s with trigger", "cost"], body)
        + f"\n\n(median of {rounds} alternated rounds per row)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dbt_incremental")
    parser.add_argument("--rows", type=int, default=1_000_000, help="tool calls (1,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days of history (30)")
    parser.add_argument(
        "--ingest-rows", type=int, default=100_000, help="rows per trigger-cost run (100,000)"
    )
    parser.add_argument("--skip-ingest", action="store_true", help="skip the trigger cost")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    context = run_context()
    progress(f"dbt_incremental: start at {context}")
    print(f"## dbt marts: incremental vs full refresh ({args.rows:,} rows, {args.days} days)\n")
    print(bench_incremental(args.rows, args.days), flush=True)
    if not args.skip_ingest:
        print("\n## late-data triggers: cost on ingest into tool_usage_logs\n")
        print(bench_trigger_cost(args.ingest_rows))
    print(f"\n(total {time.perf_counter() - started:.0f} s; started at {context}, ended at"
          f" {run_context()})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which index of the raw tables is used by what (a census from pg_stat_user_indexes), and
what each index profile costs on ingest.

`python -m bench.bench_index_usage [--tool-calls 100000] [--days 120] [--ingest-rows 100000]
[--rounds 3] [--skip-census]` (standalone; prints Markdown). The census, on a throwaway
bootstrapped database:

1. the demo workload (`--days` long, so retention has whole months to archive), then the
   index statistics are reset (loading is not a query workload);
2. each workload in turn, the scans of every index counted before and after it:
   - `first build`: `dbt build` of staging and marts on the whole history;
   - `ingest`: one new hour of tool calls and requests through the bulk loader (its
     `insert ... on conflict do nothing` checks the unique keys);
   - `incremental build`: `dbt build` after that hour (checks included);
   - `observation`: what the hourly observe_raw job reads: every raw table's statistics
     (`tables.table_stats`) and `dbt source freshness`;
   - `retention`: `apply_retention()` and the archive export, as the daily job runs them;
   - `dashboard`: a signed-in session on every page and window, the errors page with a
     search and a tool filter, one error resolved;
   - `drill-down`: the documented drill-down queries on raw rows
     (`indexes.DRILL_DOWN_QUERIES`, docs/indexes.md);
3. one row per index: size, scans per workload, and the profiles it belongs to.

Scans depend on the planner's choices, which depend on the volume: the census is made on the
demo's shape; docs/indexes.md says why each index is kept or left out.

Ingest under each profile: plain COPY of `--ingest-rows` tool calls (the `ingest` benchmark's
rows) into tool_usage_logs with the full and the lean profile, alternated for `--rounds`
rounds (best wall rate and server CPU per row of each), then the bulk loader once per profile.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.common import Option, parse_options, table, throwaway_db, tool_events
from mcp_analytics.dbt.runner import run_dbt, run_results
from mcp_analytics.demo.loader import load as load_demo
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.ingest.loader import load as load_ndjson
from mcp_analytics.warehouse.archive import export_archives
from mcp_analytics.warehouse.indexes import DRILL_DOWN_QUERIES, index_usage
from mcp_analytics.warehouse.retention import apply_retention
from mcp_analytics.warehouse.tables import raw_table_names, table_stats

PHASES = (
    "first build",
    "ingest",
    "incremental build",
    "observation",
    "retention",
    "dashboard",
    "drill-down",
)


_MEMBER_SCANS = """
select coalesce(parent.relname, idx.relname), s.indexrelid, s.idx_scan
from pg_stat_user_indexes as s
join pg_class as idx on idx.oid = s.indexrelid
left join pg_inherits as inh on inh.inhrelid = s.indexrelid
left join pg_class as parent on parent.oid = inh.inhparent
where s.schemaname = 'public'
"""


#: the command line's options (`--name value`)
OPTIONS = {
    "tool-calls": Option(100_000, "demo calls (1e5)", 1),
    "days": Option(120, "demo span in days (120)", 1),
    "ingest-rows": Option(100_000, "rows per ingest run (100,000)", 1),
    "rounds": Option(3, "ingest rounds per profile (3)", 1),
}


def _scans(url: str) -> dict[tuple[str, int], int]:
    """Scans of every index of every partition, by (parent index name, index oid): a
    partition that retention detaches leaves the sums, so deltas are taken per member."""
    time.sleep(1.5)  # backends flush their statistics at most once a second
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        rows = conn.execute(_MEMBER_SCANS).fetchall()
    return {(name, oid): scans for name, oid, scans in rows}


def _delta(before: dict[tuple[str, int], int], after: dict[tuple[str, int], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, scans in after.items():
        out[key[0]] = out.get(key[0], 0) + scans - before.get(key, 0)
    return out


FAILURES: list[str] = []


def _dbt_build(url: str) -> None:
    """`dbt build`; a failing model is recorded (the census of the others still holds)."""
    with tempfile.TemporaryDirectory() as target:
        proc = run_dbt(["build"], url=url, target_path=Path(target), capture=True)
        if proc.returncode:
            failed = [
                r["unique_id"]
                for r in run_results(Path(target))["results"]
                if r["status"] in ("error", "fail")
            ]
            FAILURES.append(f"dbt build failed on {', '.join(failed) or 'the project'}")


def _ingest_hour(url: str, calls: int = 2000) -> None:
    """One new hour of calls and their requests, through the bulk loader."""
    end = datetime.now(UTC)
    events = tool_events(calls, seed=7)
    with tempfile.TemporaryDirectory() as folder:
        tools, requests = Path(folder) / "calls.ndjson", Path(folder) / "requests.ndjson"
        with tools.open("w") as t, requests.open("w") as r:
            for i, event in enumerate(events):
                when = end - timedelta(seconds=3600 * (calls - i) / calls)
                event["timestamp"] = when.isoformat()
                t.write(json.dumps(event) + "\n")
                request = {
                    "request_id": event["request_id"],
                    "method": "POST",
                    "path": "/mcp",
                    "response_status_code": 200 if event["success"] else 500,
                    "duration_ms": event["duration_ms"] + 3,
                    "success": event["success"],
                    "session_id": event["session_id"],
                    "timestamp": when.isoformat(),
                }
                r.write(json.dumps(request) + "\n")
        with psycopg.connect(url, autocommit=True) as conn:
            load_ndjson([str(tools)], conn=conn, table="tool_usage_logs")
            load_ndjson([str(requests)], conn=conn, table="mcp_request_logs")


def _observation(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in raw_table_names():
            table_stats(conn, name)
    with tempfile.TemporaryDirectory() as target:
        proc = run_dbt(["source", "freshness"], url=url, target_path=Path(target), capture=True)
    if proc.returncode not in (0, 1):  # 1: a source is stale, which is not this census' concern
        raise SystemExit(f"dbt source freshness failed:\n{proc.stdout[-3000:]}")


def _retention(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        apply_retention(conn)
        with tempfile.TemporaryDirectory() as folder:
            export_archives(conn, Path(folder))


def _dashboard(url: str) -> None:
    from starlette.testclient import TestClient

    from bench.bench_dashboard import PASSWORD, WINDOWS
    from mcp_analytics import auth
    from mcp_analytics.dashboard import DashboardConfig, create_app

    with psycopg.connect(url, autocommit=True) as conn:
        auth.create_user(conn, "census_admin", PASSWORD, role="ADMIN")
        tool = conn.execute(
            "select tool_context ->> 'tool_name' from error_logs where not resolved"
            " and tool_context ? 'tool_name' limit 1"
        ).fetchone()
        top = conn.execute(
            "select bcp_name, tool_name from analytics.daily_tool_usage_summary"
            " group by 1, 2 order by sum(total_calls) desc limit 1"
        ).fetchone()
    app = create_app(DashboardConfig(admin_url=url, analyst_url=url))
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        data = {"username": "census_admin", "password": PASSWORD, "csrf_token": token.group(1)}
        if client.post("/login", data=data).status_code != 303:
            raise SystemExit("dashboard sign-in failed")
        paths = ["/pipeline", "/errors?q=timeout", "/errors?q=rate+limit"]
        if tool and tool[0]:
            paths.append(f"/errors?tool={tool[0]}")
        for window in WINDOWS:
            paths += [
                f"/?window={window}",
                f"/tools?window={window}",
                f"/tools/{top[0]}/{top[1]}?window={window}",
                f"/errors?window={window}",
                f"/requests?window={window}",
                f"/metrics?window={window}",
            ]
        for path in paths:
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code}")
    with psycopg.connect(url, autocommit=True) as conn:
        from mcp_analytics.dashboard.errors import resolve, unresolved

        first = unresolved(conn, limit=1)
        admin = conn.execute("select id from users where username = 'census_admin'").fetchone()
        if first and admin:
            resolve(conn, first[0]["id"], "census: resolved by the benchmark", admin[0])


def _samples(url: str) -> dict[str, object]:
    """Parameters of the drill-downs: a recent failed call of a user, a metric (picked before
    the census starts, so these lookups are not counted)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        sample = conn.execute(
            "select t.execution_id, t.request_id, t.user_id, t.session_id,"
            " (select metric_name from performance_metrics limit 1) as metric_name"
            " from tool_usage_logs as t where t.user_id is not null and not t.success"
            ' order by t."timestamp" desc limit 1'
        ).fetchone()
    assert sample is not None and sample["metric_name"] is not None
    since = datetime.now(UTC) - timedelta(days=7)
    return {**sample, "trace_id": "0af7651916cd43dd8448eb211c80319c", "since": since}


SAMPLES: dict[str, object] = {}


def _drill_down(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for query in DRILL_DOWN_QUERIES.values():
            conn.execute(query, SAMPLES).fetchall()
        conn.execute("select pg_stat_force_next_flush()")


def census(tool_calls: int, days: int) -> str:
    steps: dict[str, Callable[[str], None]] = {
        "first build": _dbt_build,
        "ingest": _ingest_hour,
        "incremental build": _dbt_build,
        "observation": _observation,
        "retention": _retention,
        "dashboard": _dashboard,
        "drill-down": _drill_down,
    }
    with throwaway_db("mcpa_bench_idx") as url:
        started = time.perf_counter()
        spec = WorkloadSpec(days=days, tool_calls=tool_calls, seed=42, end=default_end())
        load_demo(url, spec, say=lambda *_: None)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
        SAMPLES.update(_samples(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select pg_stat_reset()")
        setup_s = time.perf_counter() - started
        before = _scans(url)
        scans: dict[str, dict[str, int]] = {}
        seconds: dict[str, float] = {}
        for phase in PHASES:
            t0 = time.perf_counter()
            steps[phase](url)
            seconds[phase] = time.perf_counter() - t0
            after = _scans(url)
            scans[phase] = _delta(before, after)
            before = after
        with psycopg.connect(url, autocommit=True) as conn:
            final = {u.name: u for u in index_usage(conn)}
    rows = []
    for name, usage in final.items():
        counts = [scans[p].get(name, 0) for p in PHASES]
        kind = "constraint" if usage.constraint else ("unique" if usage.unique else "")
        rows.append(
            [usage.table, f"`{name}`", kind, f"{usage.bytes / 2**20:.1f}"]
            + [f"{c:,}" if c else "·" for c in counts]
        )
    timing = ", ".join(f"{p} {seconds[p]:.0f} s" for p in PHASES)
    return "\n".join(
        [
            f"{tool_calls:,} demo tool calls over {days} days (setup {setup_s:.0f} s); {timing}",
            "",
            table(["table", "index", "kind", "MiB", *PHASES], rows),
            "",
            "Scans: pg_stat_user_indexes.idx_scan over the parent and its partitions, counted "
            "around each workload; · = none.",
            *(f"\nNote: {f}" for f in FAILURES),
        ]
    )


def ingest_by_profile(rows: int, rounds: int) -> str:
    """Plain COPY of the same tool calls into tool_usage_logs under each profile, alternated
    (full, lean, full, lean...), each into the emptied table: best wall rate and server CPU per
    row of each profile; and the bulk loader once per profile on the same events."""
    from bench.common import copy_text, plain_copy_cpu, prepared_rows, reset_table
    from mcp_analytics.ingest.events import COLUMNS
    from mcp_analytics.warehouse.indexes import apply_profile

    table_name = "tool_usage_logs"
    events = tool_events(rows, seed=5)
    columns = list(COLUMNS[table_name])
    lines = copy_text(prepared_rows(table_name, events), columns)
    walls: dict[str, list[float]] = {"full": [], "lean": []}
    cpus: dict[str, list[float]] = {"full": [], "lean": []}
    loader: dict[str, float] = {}
    with throwaway_db("mcpa_bench_prof") as url, tempfile.TemporaryDirectory() as folder:
        ndjson = Path(folder) / "calls.ndjson"
        with ndjson.open("w") as fh:
            for event in events:
                fh.write(json.dumps({**event, "timestamp": event["timestamp"].isoformat()}) + "\n")
        for _ in range(rounds):
            for profile in ("full", "lean"):
                with psycopg.connect(url, autocommit=True) as conn:
                    apply_profile(conn, profile)
                reset_table(url, table_name)
                wall, cpu = plain_copy_cpu(url, table_name, columns, lines)
                walls[profile].append(wall)
                if cpu is not None:
                    cpus[profile].append(cpu)
        for profile in ("full", "lean"):
            with psycopg.connect(url, autocommit=True) as conn:
                apply_profile(conn, profile)
            reset_table(url, table_name)
            with psycopg.connect(url, autocommit=True) as conn:
                t0 = time.perf_counter()
                summary = load_ndjson([str(ndjson)], conn=conn, table=table_name)
                loader[profile] = summary.loaded / (time.perf_counter() - t0)
    body = []
    for profile in ("full", "lean"):
        cpu = min(cpus[profile]) / rows * 1e6 if cpus[profile] else float("nan")
        body.append(
            [
                profile,
                f"{rows / min(walls[profile]):,.0f}",
                f"{cpu:.1f}",
                f"{loader[profile]:,.0f}",
            ]
        )
    ratio_cpu = (
        min(cpus["full"]) / min(cpus["lean"]) if cpus["full"] and cpus["lean"] else float("nan")
    )
    return "\n".join(
        [
            table(
                ["profile", "plain COPY rows/s (best)", "server CPU µs/row", "bulk loader rows/s"],
                body,
            ),
            "",
            f"Lean against full: {ratio_cpu:.2f}x less server CPU per row; plain COPY "
            f"{min(walls['full']) / min(walls['lean']):.2f}x, bulk loader "
            f"{loader['lean'] / loader['full']:.2f}x the rate "
            f"({rows:,} tool calls per run, best of {rounds} alternated rounds per profile).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_options(
        "python -m bench.bench_index_usage",
        argv,
        OPTIONS,
        flags={"skip-census": "only the ingest figures"},
    )
    started = time.perf_counter()
    if not args.skip_census:
        print(f"## index usage census ({args.tool_calls:,} demo calls)\n")
        print(census(args.tool_calls, args.days), flush=True)
    print(f"\n## ingest under each index profile ({args.ingest_rows:,} tool calls)\n")
    print(ingest_by_profile(args.ingest_rows, args.rounds), flush=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

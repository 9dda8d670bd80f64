"""Growth: the same measurements at two history sizes in one process, and how each grows.

`python -m bench growth` or `python -m bench.bench_growth [--sizes 1000000,10000000]
[--days 60] [--new-rows 50000] [--repeats 3]` (standalone; prints Markdown). For each size,
on its own throwaway bootstrapped database:

1. the demo workload (`mcp-analytics demo`'s partition loader: that many tool calls over
   `--days` days ending an hour ago, with its requests, sessions, errors and metrics): rows/s;
   then `vacuum analyze` (what autovacuum does after a bulk load) and the first `dbt run`;
2. disk per million rows of `tool_usage_logs` (its partitions' heap and TOAST, and each index
   summed over the partitions) and of `mcp_request_logs`;
3. a full refresh of the marts (`dbt run --select marts --full-refresh`);
4. one new hour: `--new-rows` tool calls (the same count at every size, so what changes
   between sizes is the history only) through the bulk loader (`mcp-analytics ingest`):
   rows/s into the populated table;
5. the incremental build after it, checks included (`dbt build --select marts`: the marts
   and their dbt tests, exactness on the rebuilt buckets), then the same build with nothing
   new (dbt's fixed cost; `--skip-idle-build` leaves it out);
6. the p95 per tool over the last 30 days, from the marts (histograms merged with
   `mart_hist_merge`, and set-wise as docs/dbt.md recommends over many rows) and from raw
   rows (`percentile_cont`), median of `--repeats`, and the largest relative difference
   between marts and raw (documented bound: 0.78 %);
7. retention of one month: the policies of tool_usage_logs and mcp_request_logs set so that
   the cutoff falls just after the first month of the span ends (archive off: archive export
   is its own asset), then `apply_retention`.

The figures are printed per size, then the ratio of the largest size to the smallest.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.common import Option, parse_options, table, throwaway_db, tool_events
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load as load_demo
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.ingest.loader import load as load_ndjson
from mcp_analytics.warehouse.retention import apply_retention

TOOL = "tool_usage_logs"
REQUEST = "mcp_request_logs"
DBT_FLAGS = ("--threads", "1", "--log-level-file", "none")

_SIZES = """
with parts as (
    select t.relid
    from pg_partition_tree(%(table)s::regclass) as t
    where t.isleaf
)
select coalesce(sum(pg_table_size(relid)), 0)::float8 from parts
"""

_INDEXES = """
select c.relname,
       (select coalesce(sum(pg_relation_size(t.relid)), 0)::float8
        from pg_partition_tree(i.indexrelid) as t where t.isleaf)
from pg_index as i
join pg_class as c on c.oid = i.indexrelid
where i.indrelid = %(table)s::regclass
order by c.relname
"""

_P95_MARTS = """
select tool_name, mart_hist_quantile(mart_hist_merge(duration_histogram), 0.95)
from analytics.hourly_tool_usage_summary
where hour >= %s and hour < %s
group by tool_name
"""

# the histograms merged set-wise (docs/dbt.md: faster than mart_hist_merge over many rows)
_P95_MARTS_SETWISE = """
with buckets as (
    select hourly.tool_name, bucket.key, sum(bucket.value::bigint) as n
    from analytics.hourly_tool_usage_summary as hourly
    cross join lateral jsonb_each_text(hourly.duration_histogram) as bucket
    where hourly.hour >= %s and hourly.hour < %s
    group by hourly.tool_name, bucket.key
)
select tool_name, mart_hist_quantile(jsonb_object_agg(key, n), 0.95)
from buckets
group by tool_name
"""

_P95_RAW = """
select tool_name, percentile_cont(0.95) within group (order by duration_ms)
from tool_usage_logs
where "timestamp" >= %s and "timestamp" < %s
group by tool_name
"""


#: the command line's options (`--name value`)
OPTIONS = {
    "sizes": Option("1000000,10000000", "tool calls per history (1000000,10000000)"),
    # retention removes the first month
    "days": Option(60, "days of history (60; at least 35)", 35),
    "new-rows": Option(50_000, "tool calls in the new hour (50,000)", 1),
    "repeats": Option(3, "runs of each p95 query (3)", 1),
}


def _dbt(url: str, target: Path, *args: str) -> float:
    """Wall seconds of one dbt invocation (exit status checked)."""
    t0 = time.perf_counter()
    proc: subprocess.CompletedProcess[str] = run_dbt(
        [*args, *DBT_FLAGS], url=url, target_path=target, capture=True
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    return seconds


def _disk(conn: psycopg.Connection, name: str) -> dict[str, float]:
    """MB per million rows of `name`: 'table' (heap + TOAST of every partition) and each index."""
    rows = conn.execute(f"select count(*) from {name}").fetchone()[0]
    per_m = 1e6 / max(1, rows) / 2**20
    out = {"table": conn.execute(_SIZES, {"table": name}).fetchone()[0] * per_m}
    for index, size in conn.execute(_INDEXES, {"table": name}).fetchall():
        out[index] = size * per_m
    return out


def _new_hour(path: Path, rows: int, start: datetime) -> None:
    """`rows` demo-like tool calls spread over [start, start + 1 hour), as NDJSON."""
    events = tool_events(rows, seed=7)
    with path.open("w") as out:
        for i, e in enumerate(events):
            ts = start + timedelta(seconds=3600 * i / rows)
            out.write(json.dumps({"table": TOOL, **e, "timestamp": ts.isoformat()}) + "\n")


def _p95(conn: psycopg.Connection, query: str, start: datetime, end: datetime, repeats: int):
    times, result = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = dict(conn.execute(query, (start, end)).fetchall())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


class _Figures(dict):
    """The figures of one size, each also said as soon as it is measured (a run cut short
    keeps what it measured)."""

    def __init__(self, prefix: str, say) -> None:
        super().__init__()
        self.prefix, self.say = prefix, say

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self.say(f"  {self.prefix}: {key} = {value:,.3f}")


def measure(
    calls: int, days: int, new_rows: int, repeats: int, idle_build: bool = True, say=print
) -> dict[str, float]:
    """Every figure of one history size (seconds, rows/s, MB per million rows)."""
    fig: dict[str, float] = _Figures(f"growth {calls:,}", say)
    end = default_end() - timedelta(hours=1)
    spec = WorkloadSpec(days=days, tool_calls=calls, seed=42, end=end)
    with throwaway_db("mcpa_bench_growth") as url, tempfile.TemporaryDirectory() as tmp:
        target, tmpdir = Path(tmp) / "target", Path(tmp)
        say(f"growth {calls:,}: demo load")
        result = load_demo(url, spec)
        fig["demo load s"] = result.seconds
        fig["demo load tool calls/s"] = calls / result.seconds
        fig["demo load rows/s (all tables)"] = sum(result.loaded.values()) / result.seconds
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set timezone = 'UTC'")
            t0 = time.perf_counter()
            conn.execute("vacuum analyze")
            fig["vacuum analyze s"] = time.perf_counter() - t0
            fig["tool_usage_logs rows"] = conn.execute(f"select count(*) from {TOOL}").fetchone()[0]
            for name in (TOOL, REQUEST):
                for part, mb in _disk(conn, name).items():
                    fig[f"disk MB/M rows: {name} {part}"] = mb
        say(f"growth {calls:,}: first build")
        fig["first build s"] = _dbt(url, target, "run")
        say(f"growth {calls:,}: full refresh")
        fig["full refresh of the marts s"] = _dbt(
            url, target, "run", "--select", "marts", "--full-refresh",
            "--vars", "{mart_allow_full_refresh: true}",
        )  # fmt: skip
        say(f"growth {calls:,}: one new hour")
        path = tmpdir / "hour.ndjson"
        _new_hour(path, new_rows, end)
        t0 = time.perf_counter()
        summary = load_ndjson([path], url=url, rejects_path=tmpdir / "rejects.jsonl")
        seconds = time.perf_counter() - t0
        stored = summary.counts(TOOL).loaded
        if stored != new_rows:
            raise RuntimeError(f"the bulk loader stored {stored} of {new_rows} rows")
        fig["bulk loader rows/s (one new hour)"] = new_rows / seconds
        build = ("build", "--select", "marts")
        fig["incremental build, checks included s"] = _dbt(url, target, *build)
        if idle_build:
            fig["same build, nothing new s"] = _dbt(url, target, *build)
        say(f"growth {calls:,}: p95 per tool")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set timezone = 'UTC'")
            window = (end + timedelta(hours=1) - timedelta(days=30), end + timedelta(hours=1))
            fig["p95 per tool, 30 days, marts s"], marts = _p95(conn, _P95_MARTS, *window, repeats)
            fig["p95 per tool, 30 days, marts set-wise s"], setwise = _p95(
                conn, _P95_MARTS_SETWISE, *window, repeats
            )
            fig["p95 per tool, 30 days, raw s"], raw = _p95(conn, _P95_RAW, *window, repeats)
            if set(marts) != set(raw) or set(setwise) != set(raw):
                raise RuntimeError(f"tools differ: marts {sorted(marts)}, raw {sorted(raw)}")
            fig["p95 marts vs raw, max relative difference %"] = 100 * max(
                abs(float(m[t]) - float(raw[t])) / max(float(raw[t]), 1e-9)
                for m in (marts, setwise)
                for t in raw
            )
            say(f"growth {calls:,}: retention of one month")
            first_month_end = (spec.start.replace(day=1) + timedelta(days=32)).replace(day=1)
            keep_days = int((datetime.now(UTC) - first_month_end).total_seconds() // 86400)
            conn.execute(
                "update data_retention_policies set retention_days = %s,"
                " archive_before_delete = false where table_name = any(%s)",
                (keep_days, [TOOL, REQUEST]),
            )
            conn.execute(
                "update data_retention_policies set cleanup_enabled = false"
                " where table_name <> all(%s)",
                ([TOOL, REQUEST],),
            )
            before = conn.execute(f"select count(*) from {TOOL}").fetchone()[0]
            t0 = time.perf_counter()
            report = apply_retention(conn)
            fig["retention of one month s"] = time.perf_counter() - t0
            after = conn.execute(f"select count(*) from {TOOL}").fetchone()[0]
            fig["retention: tool calls removed"] = before - after
            fig["retention: partitions detached"] = report.partitions_detached
    return fig


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def report(sizes: list[int], figures: list[dict[str, float]]) -> str:
    """One row per figure: its value at each size and the largest size's over the smallest's."""
    keys = list(figures[0])
    headers = ["figure", *(f"{s:,} calls" for s in sizes), f"ratio {sizes[-1]:,}/{sizes[0]:,}"]
    body = []
    for key in keys:
        values = [f.get(key, float("nan")) for f in figures]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        body.append([key, *(_fmt(v) for v in values), f"{ratio:.2f}x"])
    return table(headers, body)


def main(argv: list[str] | None = None) -> int:
    args = parse_options(
        "python -m bench.bench_growth",
        argv,
        OPTIONS,
        description=__doc__,
        flags={
            "skip-idle-build": "skip the second build with nothing new (dbt's fixed cost,"
            " checks included)"
        },
    )
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1000:
        raise SystemExit(
            f"--sizes: comma-separated numbers of calls, each 1000 or more (two or more for"
            f" the ratios), got {args.sizes!r}"
        )
    started = time.perf_counter()
    figures = []
    for size in sizes:
        figures.append(
            measure(size, args.days, args.new_rows, args.repeats, not args.skip_idle_build)
        )
        print(f"\n### {size:,} calls\n\n" + json.dumps(figures[-1], indent=1), flush=True)
    if len(sizes) > 1:
        print(f"\n## growth ({args.days} days of history, {args.new_rows:,} new calls)\n")
        print(report(sizes, figures))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

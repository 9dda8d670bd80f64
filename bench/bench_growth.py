"""Growth: the same measurements at two history sizes in one process, and how each grows.

`python -m bench growth` or `python -m bench.bench_growth [--sizes 1000000,10000000]
[--days 60] [--new-rows 50000] [--repeats 3] [--dashboard-rounds 5]` (standalone; progress
on stderr, Markdown on stdout). For each size, on its own throwaway bootstrapped database:

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
   new (dbt's fixed cost; `--skip-idle-build` leaves it out). After each of the full
   refresh and these builds, the per-node split (run_results.json: every model and test with
   its seconds), so that what grows is named;
6. the p95 per tool over a 30-day window (bench_percentiles' window and queries): the
   documented query (the packed histograms of the daily rows plus the edge hours), the
   hourly one-liner (packed) and the baseline, `percentile_cont` over the raw rows; median
   ms of `--repeats` interleaved rounds after a warm-up round, and each form's largest
   relative difference from the raw p95 (documented bound: 1/128, 0.78 %);
7. the dashboard's heaviest page (bench_dashboard's machinery): a scan of every page,
   window and state in process finds the slowest against its target; it, and the pages found
   heaviest at the smaller sizes, are then requested from `mcp-analytics dashboard` in its own
   process over HTTP: `--dashboard-rounds` rounds, each starting the server (cold: the first
   view after it starts; after a build; warm), p95 of each state;
8. retention of one month: the policies of tool_usage_logs and mcp_request_logs set so that
   the cutoff falls just after the first month of the span ends (archive off: archive export
   is its own asset), then `apply_retention`.

The figures are printed per size as measured, then one Markdown table: each figure at each
size, the largest size's over the smallest's, and how it grows (flat, linear, or the exponent
in between); and per build, its slowest nodes at each size. The commit and the load average
are printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench import bench_dashboard as dashboard
from bench.bench_freshness import progress
from bench.bench_percentiles import PACKED_ANY, PACKED_HOURS, RAW, window_of
from bench.common import (
    Option,
    growth_label,
    node_seconds,
    parse_options,
    run_context,
    table,
    throwaway_db,
    tool_events,
    top_nodes,
)
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

#: the p95 per tool over 30 days: name -> query (bench_percentiles'; the first is the baseline)
P95_FORMS = {
    "raw rows, percentile_cont": RAW,
    "daily + edge hours, packed (documented)": PACKED_ANY,
    "hourly rows, packed (one-liner)": PACKED_HOURS,
}

#: the builds whose per-node split is recorded, in the order they run
BUILDS = (
    "full refresh of the marts",
    "incremental build after one new hour, checks included",
    "same build, nothing new",
)


#: the command line's options (`--name value`)
OPTIONS = {
    "sizes": Option("1000000,10000000", "tool calls per history (1000000,10000000)"),
    # retention removes the first month
    "days": Option(60, "days of history (60; at least 35)", 35),
    "new-rows": Option(50_000, "tool calls in the new hour (50,000)", 1),
    "repeats": Option(3, "runs of each p95 query (3)", 1),
    "dashboard-rounds": Option(
        5, "server starts for the dashboard's heaviest page (5; 0 skips the dashboard)", 0
    ),
}


def _dbt(url: str, target: Path, *args: str) -> float:
    """Wall seconds of one dbt invocation (exit status checked); its run_results.json is left
    in `target`."""
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


def _p95_forms(url: str, repeats: int) -> dict[str, float]:
    """Median ms of each of P95_FORMS (rounds interleaved, a warm-up round first, jit off as
    in bench_percentiles) and each estimate's largest relative difference from the first (%)."""
    times: dict[str, list[float]] = {name: [] for name in P95_FORMS}
    results: dict[str, dict] = {}
    params = window_of(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set jit = off")
        for round_ in range(repeats + 1):
            for name, query in P95_FORMS.items():
                t0 = time.perf_counter()
                results[name] = dict(conn.execute(query, params).fetchall())
                if round_:
                    times[name].append((time.perf_counter() - t0) * 1000)
    baseline, *estimates = P95_FORMS
    raw = results[baseline]
    out = {f"p95 per tool, 30 days: {name} ms": statistics.median(times[name]) for name in times}
    for name in estimates:
        if set(results[name]) != set(raw):
            raise RuntimeError(f"tools differ: {name} {sorted(results[name])}, raw {sorted(raw)}")
        out[f"p95 per tool: {name}, max difference from raw %"] = 100 * max(
            abs(float(results[name][t]) - float(raw[t])) / max(float(raw[t]), 1e-9) for t in raw
        )
    return out


def _dashboard(
    url: str, rounds: int, heaviest: list[tuple[str, str]]
) -> tuple[str, dict[str, float]]:
    """The heaviest page here ("page, window"; appended to `heaviest` when new) and the p95
    ms of each page of `heaviest` (those found heaviest at smaller sizes too) from the real
    server, in each state."""
    pages = dashboard.page_paths(dashboard.prepare(url, 0, 0, loaded=True))
    found = dashboard.heaviest_page(url, pages)
    if found not in heaviest:
        heaviest.append(found)
    out = {}
    for name, window in heaviest:
        times = dashboard.served_rounds(url, pages[name].format(w=window), rounds)
        for mode, values in times.items():
            out[f"dashboard {name}, {window}: {mode} p95 ms"] = dashboard.p95_of(values)
    return ", ".join(found), out


def say(line: str) -> None:
    """A progress line on stderr, with the UTC time."""
    progress(f"{datetime.now(UTC):%H:%M:%S} {line}")


class _Figures(dict):
    """The figures of one size, each also said as soon as it is measured (a run cut short
    keeps what it measured)."""

    def __init__(self, prefix: str, say: Callable[[str], None]) -> None:
        super().__init__()
        self.prefix, self.say = prefix, say

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self.say(f"  {self.prefix}: {key} = {value:,.3f}")


@dataclass
class Measured:
    """One size's figures (seconds, ms, rows/s, MB per million rows) and the per-node split
    of each of BUILDS that ran ({build: {"model NAME" | "test NAME": seconds}})."""

    figures: dict[str, float]
    nodes: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the dashboard's heaviest page at this size, "page, window" (empty: not measured)
    heaviest_page: str = ""


def _retention(conn: psycopg.Connection, start: datetime, fig: dict[str, float]) -> None:
    """Retention of the span's first month (tool calls and requests; archive off)."""
    first_month_end = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    keep_days = int((datetime.now(UTC) - first_month_end).total_seconds() // 86400)
    conn.execute(
        "update data_retention_policies set retention_days = %s,"
        " archive_before_delete = false where table_name = any(%s)",
        (keep_days, [TOOL, REQUEST]),
    )
    conn.execute(
        "update data_retention_policies set cleanup_enabled = false where table_name <> all(%s)",
        ([TOOL, REQUEST],),
    )
    before = conn.execute(f"select count(*) from {TOOL}").fetchone()[0]
    t0 = time.perf_counter()
    report = apply_retention(conn)
    fig["retention of one month s"] = time.perf_counter() - t0
    after = conn.execute(f"select count(*) from {TOOL}").fetchone()[0]
    fig["retention: tool calls removed"] = before - after
    fig["retention: partitions detached"] = report.partitions_detached


def measure(
    calls: int,
    options: argparse.Namespace,
    heaviest: list[tuple[str, str]] | None = None,
    say: Callable[[str], None] = say,
) -> Measured:
    """Every figure of one history size, as `options` (the command line's: days, new_rows,
    repeats, skip_idle_build, dashboard_rounds) say; `heaviest` (the dashboard pages found
    heaviest at the sizes before, (page, window)) is measured again and extended with this
    size's."""
    fig: dict[str, float] = _Figures(f"growth {calls:,}", say)
    measured = Measured(fig)
    end = default_end() - timedelta(hours=1)
    spec = WorkloadSpec(days=options.days, tool_calls=calls, seed=42, end=end)
    with throwaway_db("mcpa_bench_growth") as url, tempfile.TemporaryDirectory() as tmp:
        target, tmpdir = Path(tmp) / "target", Path(tmp)

        def build(name: str, *args: str) -> None:
            say(f"growth {calls:,}: {name}")
            fig[f"{name} s"] = _dbt(url, target, *args)
            if name in BUILDS:
                measured.nodes[name] = node_seconds(target)
                say(f"growth {calls:,}: {name}, slowest nodes:\n{top_nodes(measured.nodes[name])}")

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
        build("first build", "run")
        build(
            BUILDS[0], "run", "--select", "marts", "--full-refresh",
            "--vars", "{mart_allow_full_refresh: true}",
        )  # fmt: skip
        say(f"growth {calls:,}: one new hour")
        path = tmpdir / "hour.ndjson"
        _new_hour(path, options.new_rows, end)
        t0 = time.perf_counter()
        summary = load_ndjson([path], url=url, rejects_path=tmpdir / "rejects.jsonl")
        seconds = time.perf_counter() - t0
        stored = summary.counts(TOOL).loaded
        if stored != options.new_rows:
            raise RuntimeError(f"the bulk loader stored {stored} of {options.new_rows} rows")
        fig["bulk loader rows/s (one new hour)"] = options.new_rows / seconds
        build(BUILDS[1], "build", "--select", "marts")
        if not options.skip_idle_build:
            build(BUILDS[2], "build", "--select", "marts")
        say(f"growth {calls:,}: p95 per tool")
        for key, value in _p95_forms(url, options.repeats).items():
            fig[key] = value
        if options.dashboard_rounds:
            say(f"growth {calls:,}: the dashboard's heaviest page")
            pages = heaviest if heaviest is not None else []
            measured.heaviest_page, found = _dashboard(url, options.dashboard_rounds, pages)
            say(f"growth {calls:,}: the heaviest page here: {measured.heaviest_page}")
            for key, value in found.items():
                fig[key] = value
        say(f"growth {calls:,}: retention of one month")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set timezone = 'UTC'")
            _retention(conn, spec.start, fig)
    return measured


def _fmt(value: float) -> str:
    if value != value:  # nan: not measured at that size
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _row(name: str, values: list[float], size_ratio: float) -> list[str]:
    """A figure's cells: its value at each size, the last over the first, how it grows."""
    ratio = values[-1] / values[0] if values[0] else float("nan")
    ratio_cell = "–" if ratio != ratio else f"{ratio:.2f}x"
    return [name, *(_fmt(v) for v in values), ratio_cell, growth_label(ratio, size_ratio)]


def _headers(first: str, sizes: list[int]) -> list[str]:
    ratio = f"ratio {sizes[-1]:,}/{sizes[0]:,}"
    return [first, *(f"{s:,} calls" for s in sizes), ratio, "how it grows"]


def report(sizes: list[int], figures: list[dict[str, float]]) -> str:
    """One row per figure (every figure measured at any size, in the order of the largest
    size's, which measures the heaviest pages of the smaller ones too): its value at each
    size, the largest size's over the smallest's, and how it grows (`growth_label`: flat,
    linear, or the exponent)."""
    keys = list(dict.fromkeys(key for f in reversed(figures) for key in f))
    size_ratio = sizes[-1] / sizes[0]
    body = [_row(key, [f.get(key, float("nan")) for f in figures], size_ratio) for key in keys]
    return table(_headers("figure", sizes), body)


def nodes_report(sizes: list[int], measured: list[Measured], n: int = 15) -> str:
    """Per build of BUILDS: its `n` slowest nodes at any size, seconds at each size (sorted by
    the largest size's), with the ratio and how each grows; then all nodes summed."""
    size_ratio = sizes[-1] / sizes[0]
    out = []
    for build in BUILDS:
        splits = [m.nodes.get(build, {}) for m in measured]
        if not all(splits):
            continue
        top: set[str] = set()
        for split in splits:
            top |= set(sorted(split, key=lambda k: -split[k])[:n])
        ranked = sorted(top, key=lambda k: -splits[-1].get(k, 0.0))
        body = [_row(k, [s.get(k, float("nan")) for s in splits], size_ratio) for k in ranked]
        body.append(_row("**all nodes**", [sum(s.values()) for s in splits], size_ratio))
        out.append(
            f"#### {build}: slowest nodes (seconds)\n\n" + table(_headers("node", sizes), body)
        )
    return "\n\n".join(out)


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
    started, context = time.perf_counter(), run_context()
    say(f"growth: sizes {', '.join(f'{s:,}' for s in sizes)}; start at {context}")
    measured: list[Measured] = []
    heaviest: list[tuple[str, str]] = []
    for size in sizes:
        measured.append(measure(size, args, heaviest))
        say(f"growth {size:,}: done ({time.perf_counter() - started:.0f} s so far)")
        print(f"\n### {size:,} calls\n\n" + json.dumps(measured[-1].figures, indent=1), flush=True)
    print(
        f"\n## growth ({args.days} days of history, {args.new_rows:,} new calls; sizes"
        f" {', '.join(f'{s:,}' for s in sizes)})\n\nStarted at {context}; ended at"
        f" {run_context()}; {time.perf_counter() - started:.0f} s in all.\n"
    )
    print(report(sizes, [m.figures for m in measured]))
    if any(m.heaviest_page for m in measured):
        print(
            "\nThe dashboard's heaviest page (slowest against its target in any state, in"
            " process): "
            + "; ".join(
                f"{m.heaviest_page} at {s:,} calls" for s, m in zip(sizes, measured, strict=True)
            )
            + "."
        )
    print("\n" + nodes_report(sizes, measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end freshness: from receipt to the row in `analytics.hourly_tool_usage_summary`,
with the Dagster `dirty_marts_sensor` driving the builds.

`python -m bench freshness` or `python -m bench.bench_freshness [--history-calls 200000]
[--batches 10] [--spacing 25] [--spans 512] [--interval S]` (standalone; prints Markdown).

On a throwaway bootstrapped database holding the demo workload (`--history-calls` over 30
days) and its marts:

- `mcp-analytics otlp serve` runs in its own process, and a `Collector` in this one;
- Dagster runs as its daemon would: the code location's own definitions
  (`build_definitions`), a persistent local instance (SQLite in a temporary folder), the
  sensor evaluated once every `minimum_interval_seconds` (`--interval`, default the sensor's
  own: MCPA_MARTS_SENSOR_INTERVAL, 60 s) with its cursor carried from tick to tick, and each
  run it asks for executed as asked (the marts the ledger has work for and their checks, a
  subset of `hourly_marts`) in a thread of its own, so a tick during a build sees the run in
  flight and skips, as under the daemon;
- `--batches` batches of `--spans` tool calls, one every `--spacing` seconds (jittered, so
  receipts fall at every phase of the sensor's interval), alternately through the receiver
  (OTLP/HTTP protobuf spans: received when the POST is answered 200) and through the
  collector (received when `flush()` returns: committed). Each batch carries its own
  server name, so its arrival in the mart is unambiguous;
- a watcher polls the mart every 0.25 s: the freshness of a batch is the time from its
  receipt to the first poll that sees its server's row.

Target (issue "OpenTelemetry in"): within 2 minutes. Differences from a deployment: the
daemon launches each run in a new process (a few seconds of start-up that this in-process
execution does not pay); the tick cadence and the sensor's own logic are the same.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg
import requests

from bench.bench_otlp import PB, _kv, receiver
from bench.common import table, throwaway_db
from mcp_analytics.collector.core import Collector
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load as load_demo
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.resources import PostgresResource

warnings.filterwarnings("ignore", category=dg.BetaWarning)

TARGET_S = 120.0
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TOOLS = ("search_contacts", "get_contact", "create_ticket")


def _spans(server: str, n: int) -> bytes:
    """One OTLP export request of `n` SDK-v2-shaped `tools/call` spans of `server`, now."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1 import trace_pb2

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", server), _kv("service.version", "1.0.0")])
    scope = rs.scope_spans.add()
    scope.scope.name = "mcp-python-sdk"
    now = time.time_ns()
    for i in range(n):
        tool = TOOLS[i % len(TOOLS)]
        begin = now - 1_000_000_000 - i * 1_000_000
        span = scope.spans.add(
            trace_id=random.randbytes(16),
            span_id=random.randbytes(8),
            name=f"tools/call {tool}",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=begin,
            end_time_unix_nano=begin + random.randint(5, 500) * 1_000_000,
        )
        span.attributes.extend(
            [
                _kv("mcp.method.name", "tools/call"),
                _kv("gen_ai.tool.name", tool),
                _kv("jsonrpc.request.id", str(i)),
            ]
        )
    return request.SerializeToString()


def progress(line: str) -> None:
    """A progress line on stderr (stdout is the Markdown report)."""
    print(line, file=sys.stderr, flush=True)


def evaluate_sensor(
    sensor: dg.SensorDefinition, url: str, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    """One tick of `sensor` on the database `url`, as the daemon would evaluate it."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"postgres": PostgresResource(database_url=url)},
    )
    return sensor(context)


def execute_request(
    job: dg.JobDefinition, request: dg.RunRequest, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Execute what `request` asks of `job` in this process: the request's assets and checks
    when it names them (the sensor's runs), else the whole job."""
    if request.asset_selection is not None:
        job = job.get_subset(
            asset_selection=set(request.asset_selection),
            asset_check_selection=set(request.asset_check_keys or ()),
        )
    # dagster-dbt echoes dbt's log lines on stdout: keep them off the Markdown report
    with contextlib.redirect_stdout(sys.stderr):
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=QUIET,
            tags={**request.tags, "dagster/run_key": request.run_key or ""},
        )


def selected_marts(request: dg.RunRequest) -> str:
    """`N marts, M checks` of a run request (`whole job` when it selects nothing itself)."""
    if request.asset_selection is None:
        return "whole job"
    return f"{len(request.asset_selection)} marts, {len(request.asset_check_keys or ())} checks"


class _Background:
    """A daemon thread running `_loop` until `stop()` (which waits for it)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        raise NotImplementedError


class Driver(_Background):
    """The daemon's part: sensor ticks at a fixed cadence, requested runs in their own thread."""

    def __init__(self, url: str, instance: dg.DagsterInstance, interval: float | None) -> None:
        self.defs = build_definitions(url)
        self.sensor = self.defs.resolve_sensor_def("dirty_marts_sensor")
        self.job = self.defs.resolve_job_def("hourly_marts")
        self.interval = interval or float(self.sensor.minimum_interval_seconds or 60)
        self.instance = instance
        self.url = url
        self.cursor: str | None = None
        self.builds: list[float] = []
        self.selections: list[str] = []
        self.failures: list[str] = []
        self.ticks = 0
        self._runs: list[threading.Thread] = []
        super().__init__()

    def stop(self) -> None:
        super().stop()
        for run in self._runs:
            run.join()

    def _loop(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            self._tick()
            next_tick += self.interval
            self._stop.wait(max(0.0, next_tick - time.monotonic()))

    def _tick(self) -> None:
        self.ticks += 1
        result = evaluate_sensor(self.sensor, self.url, self.instance, self.cursor)
        if not isinstance(result, dg.SensorResult):
            return
        self.cursor = result.cursor
        for request in result.run_requests or []:
            run = threading.Thread(target=self._execute, args=(request,), daemon=True)
            self._runs.append(run)
            run.start()

    def _execute(self, request: dg.RunRequest) -> None:
        what = selected_marts(request)
        self.selections.append(what)
        progress(f"freshness: tick {self.ticks}: build of {what} started")
        t0 = time.perf_counter()
        outcome = execute_request(self.job, request, self.instance)
        self.builds.append(time.perf_counter() - t0)
        progress(f"freshness: build of {what} took {self.builds[-1]:.0f} s")
        if not outcome.success:
            self.failures.append(outcome.run_id)


class Watcher(_Background):
    """Polls the mart; records when each server's first row appears."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.seen: dict[str, float] = {}
        super().__init__()

    def _loop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "select distinct bcp_name from analytics.hourly_tool_usage_summary"
                    " where bcp_name like %s",
                    (self.prefix + "%",),
                ).fetchall()
                now = time.monotonic()
                for (name,) in rows:
                    self.seen.setdefault(name, now)
                self._stop.wait(0.25)


def _send(base: str, collector: Collector, server: str, spans: int, via_otlp: bool) -> float:
    """Send one batch; returns the monotonic time it was received (acknowledged/committed)."""
    if via_otlp:
        body = _spans(server, spans)
        while True:
            r = requests.post(base + "/v1/traces", data=body, headers=PB, timeout=120)
            if r.status_code == 200:
                return time.monotonic()
            if r.status_code not in (429, 503):
                raise RuntimeError(f"{server}: {r.status_code} {r.text[:200]}")
            time.sleep(float(r.headers.get("retry-after", "1")))
    now = datetime.now(UTC)
    for i in range(spans):
        collector.record_tool_call(
            bcp_name=server, tool_name=TOOLS[i % len(TOOLS)], operation="read", success=True,
            duration_ms=random.randint(5, 500), timestamp=now,
        )  # fmt: skip
    if not collector.flush(timeout=300):
        raise RuntimeError(f"{server}: the collector did not flush within 5 minutes")
    return time.monotonic()


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def run(history: int, batches: int, spacing: float, spans: int, interval: float | None) -> str:
    prefix = f"fresh_{random.randrange(10**6):06d}_"
    with throwaway_db("mcpa_bench_fresh") as url, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        progress(f"freshness: demo history of {history:,} calls")
        load_demo(url, WorkloadSpec(days=30, tool_calls=history, seed=42, end=default_end()))
        proc = run_dbt(["run"], url=url, target_path=tmpdir / "target", capture=True)
        if proc.returncode:
            raise RuntimeError(f"dbt run failed:\n{proc.stdout[-3000:]}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
            conn.execute("delete from mart_dirty_buckets")  # the first build is done
        (tmpdir / "dagster").mkdir()
        instance = dg.DagsterInstance.local_temp(str(tmpdir / "dagster"))
        driver = Driver(url, instance, interval)
        watcher = Watcher(url, prefix)
        collector = Collector(url, spool_dir=tmpdir / "spool").start()
        received: dict[str, tuple[float, str]] = {}
        with receiver(url, tmpdir / "state") as (base, _proc):
            watcher.start()
            driver.start()
            progress(f"freshness: sensor every {driver.interval:.0f} s; {batches} batches")
            for k in range(batches):
                time.sleep(spacing * random.uniform(0.5, 1.5))
                server = f"{prefix}{k:02d}"
                via_otlp = k % 2 == 0
                received[server] = (
                    _send(base, collector, server, spans, via_otlp),
                    "OTLP" if via_otlp else "collector",
                )
                progress(f"freshness: batch {k + 1}/{batches} received ({received[server][1]})")
            deadline = time.monotonic() + max(600.0, 5 * driver.interval)
            while set(received) - set(watcher.seen) and time.monotonic() < deadline:
                time.sleep(1)
            watcher.stop()
            driver.stop()
        collector.close()

    lag = {s: watcher.seen[s] - t for s, (t, _) in received.items() if s in watcher.seen}
    missing = sorted(set(received) - set(lag))
    rows = []
    for path in ("OTLP", "collector", "all"):
        values = [lag[s] for s, (_, p) in received.items() if s in lag and path in (p, "all")]
        if not values:
            continue
        rows.append(
            [path, len(values), f"{statistics.median(values):.1f}", f"{_p95(values):.1f}",
             f"{max(values):.1f}"]
        )  # fmt: skip
    out = [
        f"{batches} batches of {spans} calls, one every ~{spacing:.0f} s, over a {history:,}-call "
        f"history; sensor interval {driver.interval:.0f} s, {driver.ticks} ticks, "
        f"{len(driver.builds)} builds ({'; '.join(sorted(set(driver.selections))) or 'none'}):"
        " median "
        f"{statistics.median(driver.builds) if driver.builds else float('nan'):.1f} s, max "
        f"{max(driver.builds, default=float('nan')):.1f} s"
        + (f"; FAILED runs: {driver.failures}" if driver.failures else ""),
        "",
        table(["received through", "batches", "median s", "p95 s", "max s"], rows),
    ]
    all_values = list(lag.values())
    if all_values:
        p95 = _p95(all_values)
        verdict = "met" if p95 <= TARGET_S and not missing else "MISSED"
        out.append(f"\nReceipt to visible in hourly_tool_usage_summary: p95 {p95:.1f} s "
                   f"(target <= {TARGET_S:.0f} s: {verdict}).")  # fmt: skip
    if missing:
        out.append(f"\nNever visible within the deadline: {', '.join(missing)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_freshness", description=__doc__)
    parser.add_argument(
        "--history-calls", type=int, default=200_000, help="demo calls already stored (200,000)"
    )
    parser.add_argument("--batches", type=int, default=10, help="batches sent (10)")
    parser.add_argument("--spacing", type=float, default=25.0, help="seconds between (25)")
    parser.add_argument("--spans", type=int, default=512, help="calls per batch (512)")
    parser.add_argument(
        "--interval", type=float, default=None, help="sensor interval s (the sensor's own)"
    )
    args = parser.parse_args(argv)
    if args.batches < 1 or args.spans < 1 or args.history_calls < 1 or args.spacing < 0:
        parser.error("--batches, --spans and --history-calls must be >= 1, --spacing >= 0")
    started = time.perf_counter()
    print(run(args.history_calls, args.batches, args.spacing, args.spans, args.interval))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

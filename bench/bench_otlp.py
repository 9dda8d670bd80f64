"""OTLP receiver benchmark: tool-call spans per second through `mcp-analytics otlp serve`
(protobuf, batches of 512 as the SDK's batch processor sends them) against plain COPY of the
same rows into the same table in the same run; and the receiver's peak memory under an
overload it must refuse (a stalled database, many senders of large bodies).

    python -m bench otlp [--spans N] [--senders K] [--overload-seconds S]
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from mcp_analytics.ingest.events import TABLES
from mcp_analytics.otlp.batch import prepare_mapped
from mcp_analytics.otlp.mapping import map_traces

from .common import (
    TOOL_TABLE,
    Option,
    copy_text,
    count_rows,
    fmt_rate,
    parse_options,
    plain_copy,
    reset_table,
    table,
    throwaway_db,
    tool_events,
    verdict,
)

BATCH = 512
PB = {"Content-Type": "application/x-protobuf"}


#: the command line's options (`--name value`)
OPTIONS = {
    "spans": Option(1_000_000, "spans (1,000,000)", BATCH),
    "senders": Option(4, "concurrent senders (4)", 1),
    "workers": Option(2, "receiver processes (2)", 1),
    "overload-seconds": Option(20.0, "overload phase, 0 to skip (20)", 0),
}


def _kv(key: str, value: object) -> common_pb2.KeyValue:
    out = common_pb2.KeyValue(key=key)
    if isinstance(value, bool):
        out.value.bool_value = value
    elif isinstance(value, int):
        out.value.int_value = value
    else:
        out.value.string_value = str(value)
    return out


def span_batches(n: int) -> list[bytes]:
    """`n` SDK-v2-shaped tool-call spans (the benchmark's demo-like tools and outcomes) as
    serialized export requests of 512 spans, one resource per server."""
    events = tool_events(n)
    out: list[bytes] = []
    for start in range(0, n, BATCH):
        request = ExportTraceServiceRequest()
        by_server: dict[str, trace_pb2.ScopeSpans] = {}
        for i, e in enumerate(events[start : start + BATCH], start):
            scope = by_server.get(e["bcp_name"])
            if scope is None:
                rs = request.resource_spans.add()
                rs.resource.attributes.extend(
                    [_kv("service.name", e["bcp_name"]), _kv("service.version", "1.0.0")]
                )
                scope = by_server[e["bcp_name"]] = rs.scope_spans.add()
                scope.scope.name = "mcp-python-sdk"
            begin = int(e["timestamp"].timestamp() * 1e9)
            span = scope.spans.add(
                trace_id=i.to_bytes(8, "big") + os.urandom(8),
                span_id=(i + 1).to_bytes(8, "big"),
                name=f"tools/call {e['tool_name']}",
                kind=trace_pb2.Span.SPAN_KIND_SERVER,
                start_time_unix_nano=begin,
                end_time_unix_nano=begin + e["duration_ms"] * 1_000_000,
            )
            span.attributes.extend(
                [
                    _kv("mcp.method.name", "tools/call"),
                    _kv("gen_ai.operation.name", "execute_tool"),
                    _kv("gen_ai.tool.name", e["tool_name"]),
                    _kv("jsonrpc.request.id", str(i)),
                    _kv("mcp.protocol.version", "2025-11-25"),
                    _kv("mcp.session.id", e["session_id"]),
                ]
            )
            if not e["success"]:
                span.attributes.append(_kv("error.type", "tool_error"))
                span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
                span.status.message = e["error_message"]
        out.append(request.SerializeToString())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def receiver(url: str, state: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`mcp-analytics otlp serve` in its own process, writing to `url`."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, MCPA_STATE_DIR=str(state))
    env.pop("MCPA_INGEST_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_analytics.cli", "otlp", "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(base + "/healthz", timeout=5)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                error = proc.stderr.read()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"the receiver did not start: {error}") from None
            time.sleep(0.2)
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(30)


def send_all(base: str, batches: list[bytes], senders: int) -> tuple[float, dict[int, int]]:
    """Post every batch (retrying 429/503 after Retry-After, as exporters do) from `senders`
    threads; returns the seconds until the last one was acknowledged, and the answers."""
    answers: dict[int, int] = {}
    lock = threading.Lock()
    next_batch = iter(range(len(batches)))

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(next_batch, None)
            if i is None:
                return
            while True:
                r = session.post(base + "/v1/traces", data=batches[i], headers=PB, timeout=120)
                with lock:
                    answers[r.status_code] = answers.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    break
                if r.status_code not in (429, 503):
                    raise RuntimeError(f"batch {i}: {r.status_code} {r.text[:200]}")
                time.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, answers


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MiB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (
        int(fields["VmRSS"].split()[0]) / 1024,
        int(fields["VmHWM"].split()[0]) / 1024,
    )


def _tree_peak_mib(pid: int) -> float:
    """Peak resident memory of a process and its children (uvicorn's workers), summed."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return sum(peak_rss_mib(p)[1] for p in pids)


def overload(url: str, state: Path, seconds: float, senders: int) -> dict[str, object]:
    """Many senders of large bodies against a receiver whose database is stalled (an
    exclusive lock on tool_usage_logs): it must refuse (429) and keep its memory bounded."""
    # One large export: 16 batches of 512 spans merged into one body (about 2.3 MiB).
    request = ExportTraceServiceRequest()
    for b in span_batches(16 * BATCH):
        request.MergeFromString(b)
    body = request.SerializeToString()
    with receiver(url, state, "--max-queued-rows", "20000") as (base, proc):
        idle = peak_rss_mib(proc.pid)[1]
        blocker = psycopg.connect(url)
        blocker.execute("lock table tool_usage_logs in access exclusive mode")
        answers: dict[int, int] = {}
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def flood() -> None:
            session = requests.Session()
            while time.monotonic() < stop:
                try:
                    r = session.post(
                        base + "/v1/traces", data=body, headers=PB, timeout=seconds + 30
                    )
                    code = r.status_code
                except requests.RequestException:
                    code = -1
                with lock:
                    answers[code] = answers.get(code, 0) + 1

        threads = [threading.Thread(target=flood) for _ in range(senders)]
        for t in threads:
            t.start()
        samples = []
        while any(t.is_alive() for t in threads) and time.monotonic() < stop:
            samples.append(peak_rss_mib(proc.pid)[0])
            time.sleep(0.2)
        peak_during = peak_rss_mib(proc.pid)[1]
        blocker.rollback()
        blocker.close()
        for t in threads:
            t.join(120)
    return {
        "body_mib": len(body) / 2**20,
        "idle_mib": idle,
        "peak_mib": peak_during,
        "answers": answers,
    }


def run_otlp(spans: int, senders: int, overload_seconds: float, workers: int = 1) -> str:
    batches = span_batches(spans)
    # The rows the receiver stores for them (untimed): the plain COPY baseline's input.
    rows = []
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest as Req,
    )

    for b in batches:
        rows += prepare_mapped(map_traces(Req.FromString(b)), source_name="bench").rows.get(
            TOOL_TABLE, []
        )
    columns = [c.name for c in TABLES[TOOL_TABLE]]
    lines = copy_text(rows, columns)
    out = []
    with throwaway_db("mcpa_bench_otlp") as url, contextlib.ExitStack() as stack:
        state = Path(stack.enter_context(_tempdir()))
        copy_s = plain_copy(url, TOOL_TABLE, columns, lines)
        if count_rows(url) != len(rows):
            raise RuntimeError("plain COPY stored the wrong number of rows")
        reset_table(url)
        with receiver(url, state, "--workers", str(workers)) as (base, proc):
            seconds, answers = send_all(base, batches, senders)
            peak = _tree_peak_mib(proc.pid)
        stored = count_rows(url)
        deadline = time.monotonic() + 120
        while stored < spans and time.monotonic() < deadline:
            # Acknowledged but spooled (the database was slow to answer): replayed shortly.
            time.sleep(1)
            stored = count_rows(url)
        if stored != spans:
            raise RuntimeError(f"the receiver stored {stored:,} of {spans:,} spans")
        reset_table(url)
        copy2_s = plain_copy(url, TOOL_TABLE, columns, lines)
        copy_rate = len(rows) / ((copy_s + copy2_s) / 2)
        rate = spans / seconds
        out.append(
            f"### OTLP receiver: {spans:,} tool-call spans, batches of {BATCH}, {senders} senders,"
            f" {workers} worker process(es)\n"
        )
        out.append(
            table(
                ["method", "rows/s", "seconds", "note"],
                [
                    ["plain COPY (mean of the runs before and after)", fmt_rate(copy_rate),
                     f"{(copy_s + copy2_s) / 2:.1f}", "prepared rows, one transaction"],
                    ["OTLP receiver (protobuf over HTTP)", fmt_rate(rate), f"{seconds:.1f}",
                     f"answers {answers}, receiver peak RSS {peak:.0f} MiB"],
                ],
            )
        )  # fmt: skip
        out.append(f"\nreceiver / plain COPY: {verdict(rate / copy_rate, 0.5)}\n")
        if overload_seconds > 0:
            reset_table(url)
            o = overload(url, state, overload_seconds, senders=16)
            out.append(
                f"Overload ({overload_seconds:.0f} s, 16 senders of {o['body_mib']:.1f} MiB bodies,"
                f" database stalled): answers {o['answers']}; receiver RSS idle"
                f" {o['idle_mib']:.0f} MiB, peak {o['peak_mib']:.0f} MiB.\n"
            )
    return "\n".join(out)


@contextlib.contextmanager
def _tempdir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mcpa-bench-otlp-") as d:
        yield d


def main(argv: list[str] | None = None) -> int:
    args = parse_options("python -m bench otlp", argv, OPTIONS, description=__doc__)
    print(run_otlp(args.spans, args.senders, args.overload_seconds, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())

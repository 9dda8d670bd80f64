"""Server time of every dashboard page on the demo's 1 M calls, against the raw-row query.

`python -m bench.bench_dashboard [--tool-calls 1000000] [--days 30] [--repeats 15]
[--database-url URL]` (standalone; prints Markdown). On a throwaway bootstrapped database (or,
with `--database-url`, one that already holds the demo and the built marts: the run adds a
READ_ONLY user and stamps the newest bucket of each mart, nothing else):

1. the demo workload (`mcp-analytics demo`'s loader: `--tool-calls` calls over `--days` days,
   requests, errors, metrics), then `dbt run` builds the marts;
2. a signed-in READ_ONLY user requests every page for the last 24 hours, 7, 30 and 90 days,
   in process (Starlette's TestClient: the app's own time, no network), `--repeats` times
   each, rounds interleaved: the median and p95 per page and window in three states:
   **cold** (every cache off: the page computed from the marts' rows read again, as the first
   view after the server starts), **after build** (the caches on, and before each request the
   newest bucket of every mart is stamped as rebuilt, as an hourly build does: the first view
   after a build, which reads and merges only what changed) and **warm** (what auto-refresh
   costs while the marts are unchanged: the cache's version check, the session check,
   rendering);
3. the baseline, measured alternately in the same run: what the Overview shows (calls,
   errors, p50/p95/p99), computed exactly from the raw rows (`percentile_cont` over
   tool_usage_logs of the window), the query a dashboard without marts would run. Each page's
   figure is also given as a ratio of that baseline.

Targets (issue "The MCP Analytics Dashboard"): p95 <= 150 ms for a 30-day window and <= 300 ms
for 90 days; the shorter windows (24 hours, 7 days) are held to the 30-day one. The output
starts with a summary: p95 per page, window and state against its target, and the load
average during the run (the machine's other work moves every figure).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psycopg
from starlette.testclient import TestClient

import mcp_analytics
from bench.common import table, throwaway_db
from mcp_analytics import auth
from mcp_analytics.dashboard import DashboardConfig, create_app
from mcp_analytics.dashboard.cache import CACHE
from mcp_analytics.dashboard.windows import parse_window
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import WorkloadSpec, default_end

WINDOWS = ("24h", "7d", "30d", "90d")
TARGETS_MS = {"24h": 150.0, "7d": 150.0, "30d": 150.0, "90d": 300.0}
#: pages without a window: measured once, against the 30-day target
UNWINDOWED = ("Pipeline", "Inventory")
PASSWORD = "bench-password-1"

_RAW = """
select count(*), count(*) filter (where success = false),
       percentile_cont(array[0.5, 0.95, 0.99]) within group (order by duration_ms)
from tool_usage_logs where "timestamp" >= %s and "timestamp" < %s
"""


def prepare(url: str, calls: int, days: int, loaded: bool) -> str:
    """The demo and the marts (unless `loaded`), the bench's user; the busiest tool's page."""
    if not loaded:
        spec = WorkloadSpec(days=days, tool_calls=calls, seed=42, end=default_end())
        load(url, spec, say=lambda *_: None)
        with tempfile.TemporaryDirectory() as target:
            proc = run_dbt(["run"], url=url, target_path=Path(target), capture=True)
            if proc.returncode:
                raise SystemExit(f"dbt run failed:\n{proc.stdout[-3000:]}")
    with psycopg.connect(url, autocommit=True) as conn:
        if auth.get_user(conn, "bench_reader") is None:
            auth.create_user(conn, "bench_reader", PASSWORD, role="READ_ONLY")
        else:
            auth.set_password(conn, "bench_reader", PASSWORD)
        if not loaded:
            conn.execute("vacuum analyze")
        top = conn.execute(
            "select bcp_name, tool_name from analytics.daily_tool_usage_summary"
            " group by 1, 2 order by sum(total_calls) desc limit 1"
        ).fetchone()
    return f"/tools/{top[0]}/{top[1]}"


def _sign_in(client: httpx2.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/login", data={"username": "bench_reader", "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: {response.status_code}")


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def p95_of(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


#: mart -> its bucket column: what an hourly build rebuilds the newest bucket of
MARTS = {
    "hourly_tool_usage_summary": "hour",
    "daily_tool_usage_summary": "day",
    "hourly_request_summary": "hour",
    "performance_metrics_summary": "time_bucket",
    "daily_error_summary": "day",
    "daily_client_summary": "day",
    "daily_tool_version_summary": "day",
    "daily_session_summary": "day",
}
MODES = ("cold", "after build", "warm")


def _stamp_newest(conn: psycopg.Connection) -> None:
    """Mark the newest bucket of every mart as rebuilt now (refreshed_at), as a build does."""
    for mart, column in MARTS.items():
        if conn.execute("select to_regclass(%s)", (f"analytics.{mart}",)).fetchone()[0]:
            conn.execute(
                f"update analytics.{mart} set refreshed_at = clock_timestamp()"
                f" where {column} = (select max({column}) from analytics.{mart})"
            )


def _one_round(
    client: TestClient,
    conn: psycopg.Connection,
    pages: dict[str, str],
    times: dict[tuple[str, str, str], list[float]],
    raw: dict[str, list[float]],
) -> None:
    """Every page and window once in each mode, and the baseline query once per window."""
    for mode in MODES:
        CACHE.enabled = mode != "cold"
        for window in WINDOWS:
            w = parse_window({"window": window})
            if mode == "cold":
                raw[window].append(_ms(lambda w=w: conn.execute(_RAW, (w.start, w.end)).fetchone()))
            for name, path in pages.items():
                if name in UNWINDOWED and window != "24h":
                    continue
                url_path = path.format(w=window)

                def get(url_path: str = url_path) -> None:
                    response = client.get(url_path)
                    if response.status_code != 200:
                        raise SystemExit(f"{url_path}: HTTP {response.status_code}")

                if mode == "after build":
                    _stamp_newest(conn)
                elif mode == "warm":
                    get()  # the view auto-refresh repeats: nothing changed since
                times.setdefault((name, window, mode), []).append(_ms(get))


def _report(
    times: dict[tuple[str, str, str], list[float]], raw: dict[str, list[float]]
) -> list[list[str]]:
    """Median and p95 per page, window and state, and the median as a ratio of the raw query."""
    body = []
    for (name, window, mode), values in sorted(
        times.items(), key=lambda kv: (WINDOWS.index(kv[0][1]), MODES.index(kv[0][2]))
    ):
        baseline = statistics.median(raw[window])
        median, p95 = statistics.median(values), p95_of(values)
        body.append(
            [
                name,
                window if name not in UNWINDOWED else "–",
                mode,
                f"{median:.0f}",
                f"{p95:.0f}",
                f"{median / baseline:.3f}" if name not in UNWINDOWED else "–",
            ]
        )
    return body


def _summary(times: dict[tuple[str, str, str], list[float]], pages: list[str]) -> str:
    """p95 per page and window in each state against the window's target: one row per page
    and window, OVER where a state misses it, and a count of what is within."""
    rows, within, total = [], 0, 0
    for window in WINDOWS:
        target = TARGETS_MS[window]
        for name in pages:
            if (name, window, MODES[0]) not in times:
                continue
            cells = []
            for mode in MODES:
                p95 = p95_of(times[(name, window, mode)])
                total += 1
                within += p95 <= target
                cells.append(f"{p95:.0f}" + ("" if p95 <= target else " OVER"))
            label = "–" if name in UNWINDOWED else window
            rows.append([name, label, f"<= {target:.0f}", *cells])
    header = ["page", "window", "target p95 ms", *(f"{m} p95 ms" for m in MODES)]
    return f"{table(header, rows)}\n\n{within} of {total} within their target."


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def page_paths(tool_page: str) -> dict[str, str]:
    """Every page's path by its name, `{w}` where its window goes; `tool_page` is the tool
    detail page's path (`_prepare` returns the busiest tool's)."""
    return {
        "Overview": "/?window={w}",
        "Tools": "/tools?window={w}",
        "Tool detail": tool_page + "?window={w}",
        "Error budget": "/budget?window={w}",
        "Clients": "/clients?window={w}",
        "Releases": "/versions?window={w}",
        "Sessions": "/sessions?window={w}",
        "Errors": "/errors?window={w}",
        "Requests": "/requests?window={w}",
        "Metrics": "/metrics?window={w}",
        "Pipeline": "/pipeline",
        "Inventory": "/inventory",
    }


def in_process_rounds(
    url: str, pages: dict[str, str], repeats: int
) -> tuple[dict[tuple[str, str, str], list[float]], dict[str, list[float]]]:
    """`repeats` rounds of every page, window and state in process (TestClient), after a
    warm-up of each page: ({(page, window, state): ms per round}, {window: raw query ms})."""
    times: dict[tuple[str, str, str], list[float]] = {}
    raw: dict[str, list[float]] = {w: [] for w in WINDOWS}
    app = create_app(DashboardConfig(admin_url=url, analyst_url=url))
    try:
        with (
            TestClient(app, follow_redirects=False) as client,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            _sign_in(client)
            for path in pages.values():  # warm-up: plans, pools, templates
                client.get(path.format(w="24h"))
            for _ in range(repeats):
                _one_round(client, conn, pages, times, raw)
    finally:
        CACHE.enabled = True
    return times, raw


def heaviest_page(url: str, pages: dict[str, str], rounds: int = 2) -> tuple[str, str]:
    """(page, window) of the page that is slowest against its window's target in any state,
    each state's time the fastest of `rounds` in-process rounds (one slow request is the
    machine, not the page); unwindowed pages are named with window "24h"."""
    times, _ = in_process_rounds(url, pages, rounds)
    name, window, _ = max(times, key=lambda key: min(times[key]) / TARGETS_MS[key[1]])
    return name, window


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(url: str, timeout: float = 120) -> Iterator[httpx2.Client]:
    """`mcp-analytics dashboard` on `url` in its own process at a free port, as a user starts
    it; yields an HTTP client signed in as the bench's READ_ONLY user (`_prepare` makes it).
    The server is stopped at the end.

    Raises:
        RuntimeError: the server did not answer within `timeout` seconds (its output said).
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MCPA_ANALYST_URL"}
    env["DATABASE_URL"] = url
    # the CLI of the package this process runs (a worktree's, not whichever checkout the
    # venv's `mcp-analytics` script was installed from)
    command = [
        sys.executable,
        "-c",
        "import sys; from mcp_analytics.cli import main; sys.exit(main())",
    ]
    server = subprocess.Popen(
        [*command, "dashboard", "--port", str(port)],
        cwd=Path(mcp_analytics.__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(httpx2.TransportError):
                    if client.get("/login").status_code == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    output = server.communicate()[0]
                    raise RuntimeError(f"the dashboard did not start:\n{output[-3000:]}")
                time.sleep(0.1)
            _sign_in(client)
            yield client
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout:
            server.stdout.close()


def served_rounds(url: str, path: str, rounds: int, warm: int = 3) -> dict[str, list[float]]:
    """Client-side ms of the page `path` from a real dashboard server over HTTP, by state:
    each of `rounds` rounds starts the server, signs in, and requests the page first
    ("cold": the first view after the server starts), then with the newest bucket of every
    mart stamped as rebuilt ("after build"), then `warm` times with nothing changed ("warm")."""
    times: dict[str, list[float]] = {mode: [] for mode in MODES}

    def get(client: httpx2.Client) -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")

    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(rounds):
            with served(url) as client:
                times["cold"].append(_ms(lambda: get(client)))
                _stamp_newest(conn)
                times["after build"].append(_ms(lambda: get(client)))
                for _ in range(warm):
                    times["warm"].append(_ms(lambda: get(client)))
    return times


def bench(calls: int, days: int, repeats: int, database_url: str | None = None) -> str:
    where = (
        contextlib.nullcontext(database_url) if database_url else throwaway_db("mcpa_bench_dash")
    )
    with where as url:
        started = time.perf_counter()
        tool_page = prepare(url, calls, days, loaded=database_url is not None)
        setup_s = time.perf_counter() - started
        pages = page_paths(tool_page)
        load_before = _load()
        times, raw = in_process_rounds(url, pages, repeats)
        with psycopg.connect(url, autocommit=True) as conn:
            rows_in_marts = conn.execute(
                "select (select count(*) from analytics.hourly_tool_usage_summary),"
                " (select count(*) from analytics.daily_tool_usage_summary),"
                " (select count(*) from tool_usage_logs)"
            ).fetchone()
        raw_rows = [[w, f"{statistics.median(v):.0f}", f"{p95_of(v):.0f}"] for w, v in raw.items()]
    return "\n".join(
        [
            f"{rows_in_marts[2]:,} raw tool calls; marts: {rows_in_marts[0]:,} hourly and"
            f" {rows_in_marts[1]:,} daily tool rows (setup {setup_s:.0f} s); {repeats} rounds,"
            f" pages and baseline interleaved; load average {load_before} before the rounds,"
            f" {_load()} after",
            "",
            "### Summary: p95 against the targets",
            "",
            _summary(times, list(pages)),
            "",
            "### Every page, median and p95",
            "",
            table(
                ["page", "window", "state", "median ms", "p95 ms", "median / raw query"],
                _report(times, raw),
            ),
            "",
            "Baseline: the Overview's numbers computed exactly from the raw rows (ms):",
            "",
            table(["window", "median ms", "p95 ms"], raw_rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dashboard")
    parser.add_argument("--tool-calls", type=int, default=1_000_000, help="demo calls (1e6)")
    parser.add_argument("--days", type=int, default=30, help="demo span in days (30)")
    parser.add_argument("--repeats", type=int, default=15, help="rounds per page (15)")
    parser.add_argument(
        "--database-url",
        help="a database that already holds the demo and the built marts (none: a throwaway"
        " one is loaded and built)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"## dashboard: server time per page ({args.tool_calls:,} demo calls)\n")
    print(bench(args.tool_calls, args.days, args.repeats, args.database_url), flush=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

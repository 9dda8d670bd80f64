"""Shared benchmark helpers: throwaway databases, the benchmark rows, timing and reporting.

Every figure is a ratio against a baseline measured in the same run, on the same rows, in the
same table with the same indexes: absolute rows/s depend on the machine (and on whatever else
it is doing), ratios much less.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.demo.workload import CATALOGUE
from mcp_analytics.ingest.events import prepare
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap

TOOL_TABLE = "tool_usage_logs"


# --------------------------------------------------------------------------- databases


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or db.server_url()


@contextlib.contextmanager
def throwaway_db(prefix: str = "mcpa_bench") -> Iterator[str]:
    """A fresh bootstrapped database, dropped afterwards."""
    server = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = db.with_database(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = db.with_database(server, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def reset_table(url: str, table: str = TOOL_TABLE) -> None:
    """Empty the table (all partitions) and settle the server before the next measurement."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("truncate {}").format(sql.Identifier(table)))
        with contextlib.suppress(psycopg.Error):  # needs superuser or pg_checkpoint
            conn.execute("checkpoint")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """A command-line option of a benchmark: its default (whose type, int, float or str, is
    the option's), its help text, and the smallest value accepted (None: any)."""

    default: int | float | str
    help: str
    minimum: int | float | None = None


def parse_options(
    prog: str,
    argv: list[str] | None,
    options: dict[str, Option],
    *,
    description: str | None = None,
    flags: dict[str, str] | None = None,
) -> argparse.Namespace:
    """Parse a benchmark's command line: `--NAME VALUE` for each of `options` and a
    store-true `--NAME` for each of `flags` (name: help); the values are attributes named with
    underscores (`--dirty-hours` -> `dirty_hours`).

    Raises:
        SystemExit: (status 2, argparse's usage error) an unknown option, a value that is not
            a number, or one below its option's minimum ("--rows must be at least 1000").
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for name, option in options.items():
        kind = type(option.default)
        parser.add_argument(f"--{name}", type=kind, default=option.default, help=option.help)
    for name, text in (flags or {}).items():
        parser.add_argument(f"--{name}", action="store_true", help=text)
    args = parser.parse_args(argv)
    for name, option in options.items():
        value = getattr(args, name.replace("-", "_"))
        if option.minimum is not None and value < option.minimum:
            parser.error(f"--{name} must be at least {option.minimum}")
    return args


# --------------------------------------------------------------------------- rows


def tool_events(n: int, seed: int = 1) -> list[dict]:
    """`n` tool-call events shaped like the demo's (same tools, argument and result sizes),
    timestamped inside the current month so they land in an existing partition."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = max(1.0, (now - month_start).total_seconds() - 1)
    tools = [(b.name, t) for b in CATALOGUE for t in b.tools]
    params = [
        [
            {name: (rng.randrange(10**6) if name.endswith("_id") else f"v{rng.randrange(500)}")
             for name in t.params}
            for _ in range(64)
        ]
        for _, t in tools
    ]  # fmt: skip
    events = []
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        k = rng.randrange(len(tools))
        bcp, tool = tools[k]
        ok = rng.random() > 0.03
        event = {
            "execution_id": f"bench-{run}-{i}",
            "bcp_name": bcp,
            "tool_name": tool.name,
            "operation": tool.operation,
            "parameters": params[k][rng.randrange(64)],
            "response_data": (
                {"content": [{"type": "text", "text": f'{{"total": {rng.randrange(50)}}}'}]}
                if ok
                else None
            ),
            "success": ok,
            "duration_ms": int(rng.lognormvariate(5, 0.8)),
            "error_message": None if ok else "HubSpot API rate limit reached",
            "error_code": None if ok else "RATE_LIMITED",
            "session_id": f"sess-{run}-{i // 25}",
            "request_id": f"rq-{run}-{i}",
            "timestamp": month_start + dt.timedelta(seconds=span * i / n),
            "ip_address": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "user_agent": "claude-desktop/0.12.4",
            "tool_version": "1.0.0",
            "memory_usage_mb": round(rng.uniform(90, 400), 2),
            "cpu_usage_percent": round(rng.uniform(1, 60), 2),
        }
        events.append(event)
    return events


def prepared_rows(table: str, events: Sequence[dict]) -> list[dict]:
    """The rows the project would store for `events` (validated, redacted, hashed)."""
    return [prepare(table, e) for e in events]


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(rows: Sequence[dict], columns: Sequence[str]) -> list[str]:
    """COPY text lines for prepared rows (the plain-COPY baseline's input, made untimed)."""

    def field(value: object) -> str:
        if value is None:
            return "\\N"
        if value is True:
            return "t"
        if value is False:
            return "f"
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value).translate(_ESCAPES)

    return ["\t".join(field(r[c]) for c in columns) + "\n" for r in rows]


def plain_copy(url: str, table: str, columns: Sequence[str], lines: Sequence[str]) -> float:
    """COPY `lines` into `table` in one transaction; returns the seconds it took."""
    return plain_copy_cpu(url, table, columns, lines)[0]


def plain_copy_cpu(
    url: str, table: str, columns: Sequence[str], lines: Sequence[str]
) -> tuple[float, float | None]:
    """Like `plain_copy`, and also the CPU seconds the server process spent on it (None when
    the server runs on another host). CPU time barely moves when other work shares the
    machine; wall time does."""
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    stmt = sql.SQL("copy {} ({}) from stdin").format(sql.Identifier(table), cols)
    with psycopg.connect(url) as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        conn.commit()
        cpu0 = backend_cpu(pid)
        t0 = time.perf_counter()
        with conn.cursor().copy(stmt) as copy:
            for i in range(0, len(lines), 10_000):
                copy.write("".join(lines[i : i + 10_000]))
        conn.commit()
        wall = time.perf_counter() - t0
        cpu1 = backend_cpu(pid)
    return wall, (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None


def backend_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a server process, from /proc (same host only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_rows(url: str, table: str = TOOL_TABLE) -> int:
    with psycopg.connect(url) as conn:
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        return conn.execute(query).fetchone()[0]


# --------------------------------------------------------------------------- reporting


@dataclass
class Measure:
    name: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasted into bench/README.md as is)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def mart_seconds_table(
    marts: Sequence[str],
    columns: dict[str, tuple[dict[str, float], str]],
    ratio: tuple[str, str, str, str],
) -> tuple[str, float]:
    """A Markdown table of per-mart seconds and the ratio of two of its columns, with a bold
    "all marts" row of the sums; returns (the table, the ratio of the sums).

    `marts`: the rows, in order; `columns`: header -> (seconds by mart, format spec such as
    ".2f"); `ratio`: (its header, the numerator's column header, the denominator's, its
    format spec: ".2f" is written as a factor "1.23x", ".1%" as a percentage).
    """
    header, numerator, denominator, spec = ratio
    suffix = "x" if spec.endswith("f") else ""
    body: list[list[str]] = []
    for mart in marts:
        cells = [format(seconds[mart], f) for seconds, f in columns.values()]
        share = columns[numerator][0][mart] / columns[denominator][0][mart]
        body.append([mart, *cells, format(share, spec) + suffix])
    sums = {name: sum(seconds[m] for m in marts) for name, (seconds, _) in columns.items()}
    total = sums[numerator] / sums[denominator]
    cells = [format(sums[name], f) for name, (_, f) in columns.items()]
    body.append(["**all marts**", *cells, f"**{format(total, spec)}{suffix}**"])
    return table(["mart", *columns, header], body), total


def node_seconds(target: Path) -> dict[str, float]:
    """Execution seconds of every node (models, tests, ...) of the last dbt invocation that
    wrote `target`/run_results.json, keyed "model NAME" / "test NAME" (a generic test's name
    as dbt writes it, without its hash). Hooks are included in their model's time.

    Raises:
        FileNotFoundError: no run_results.json in `target`.
    """
    out: dict[str, float] = {}
    for result in json.loads((target / "run_results.json").read_text())["results"]:
        kind, _package, name, *_ = result["unique_id"].split(".")
        out[f"{kind} {name}"] = out.get(f"{kind} {name}", 0.0) + float(result["execution_time"])
    return out


def top_nodes(seconds: dict[str, float], n: int = 15) -> str:
    """A Markdown table of the `n` slowest nodes of `seconds` (see `node_seconds`): seconds and
    share of all nodes' seconds, then one row for the rest."""
    total = sum(seconds.values()) or float("nan")
    ranked = sorted(seconds.items(), key=lambda kv: -kv[1])
    rows = [[name, f"{s:.2f}", f"{s / total:.1%}"] for name, s in ranked[:n]]
    rest = ranked[n:]
    if rest:
        rest_s = sum(s for _, s in rest)
        rows.append([f"the {len(rest)} other nodes", f"{rest_s:.2f}", f"{rest_s / total:.1%}"])
    rows.append(["**all nodes**", f"{sum(seconds.values()):.2f}", "100%"])
    return table(["node", "seconds", "share"], rows)


def run_context() -> str:
    """The commit the benchmark runs (with "+ uncommitted changes" when bench/, dbt_project/,
    bootstrap_sql/ or mcp_analytics/ differ from it), the UTC time and the load average: what
    a figure of record names."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    areas = ("bench", "dbt_project", "bootstrap_sql", "mcp_analytics")
    if git("status", "--porcelain", "--untracked-files=no", "--", *areas):
        commit += " + uncommitted changes"
    one, five, fifteen = os.getloadavg()
    now = dt.datetime.now(dt.UTC)
    return (
        f"commit {commit}, {now:%Y-%m-%d %H:%M} UTC, load average {one:.1f} / {five:.1f} /"
        f" {fifteen:.1f} (1 / 5 / 15 min, {os.cpu_count()} CPUs)"
    )


def growth_label(ratio: float, size_ratio: float) -> str:
    """How a figure grows between two sizes `size_ratio` apart, from its `ratio`: "flat"
    (exponent below 0.25), "linear" (0.75 to 1.25), else "size^e" with the exponent e of
    ratio = size_ratio^e ("size^-0.40" for a figure that falls)."""
    if not (ratio > 0 and size_ratio > 1 and math.isfinite(ratio)):
        return "–"
    exponent = math.log(ratio) / math.log(size_ratio)
    if abs(exponent) < 0.25:
        return "flat"
    if 0.75 <= exponent <= 1.25:
        return "linear"
    return f"size^{exponent:.2f}"


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target >= {target}x: {'met' if ratio >= target else 'MISSED'})"

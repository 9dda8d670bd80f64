"""Ingest benchmarks: the bulk loader and the collector against plain COPY, and the cost of
each index of `tool_usage_logs` on ingest. Method and results: bench/README.md."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import COLUMNS
from mcp_analytics.ingest.loader import load

from .common import (
    TOOL_TABLE,
    Measure,
    copy_text,
    count_rows,
    fmt_rate,
    plain_copy,
    plain_copy_cpu,
    prepared_rows,
    reset_table,
    table,
    throwaway_db,
    timed,
    tool_events,
    verdict,
)

INSERT_COLUMNS = (
    "execution_id", "bcp_name", "tool_name", "operation", "parameters", "response_data",
    "error_message", "error_code", "duration_ms", "memory_usage_mb", "cpu_usage_percent",
    "success", "tool_version", "session_id", "request_id", "timestamp", "ip_address",
    "user_agent", "parameters_hash", "response_size_bytes", "cache_hit",
)  # fmt: skip


def _check(url: str, expected: int, what: str) -> None:
    got = count_rows(url)
    if got != expected:
        raise RuntimeError(f"{what}: expected {expected:,} rows in {TOOL_TABLE}, found {got:,}")


def _ndjson(events: list[dict], path: Path) -> None:
    with path.open("w") as out:
        for e in events:
            line = {"table": TOOL_TABLE, **e, "timestamp": e["timestamp"].isoformat()}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def _row_at_a_time(url: str, rows: list[dict]) -> float:
    cols = sql.SQL(", ").join(map(sql.Identifier, INSERT_COLUMNS))
    marks = sql.SQL(", ").join(sql.Placeholder() * len(INSERT_COLUMNS))
    stmt = sql.SQL("insert into {} ({}) values ({})").format(
        sql.Identifier(TOOL_TABLE), cols, marks
    )
    with psycopg.connect(url, autocommit=True) as conn:  # one row per transaction
        t0 = time.perf_counter()
        for r in rows:
            conn.execute(stmt, [r[c] for c in INSERT_COLUMNS])
        return time.perf_counter() - t0


def _collector(url: str, events: list[dict], spool: Path) -> tuple[float, dict]:
    # The buffer holds the whole run, so the figure is the write path's, not the overflow
    # spool's; the batch size and flush interval are the configured defaults (50, 5 s).
    collector = Collector(url, spool_dir=spool, max_buffer=len(events) + 1).start()
    t0 = time.perf_counter()
    for e in events:
        collector.record_tool_call(**e)
    if not collector.flush(timeout=3600):
        raise RuntimeError("the collector did not flush within an hour")
    seconds = time.perf_counter() - t0
    stats = collector.stats
    collector.close()
    return seconds, stats


def run_ingest(rows: int, insert_rows: int, say=print, rounds: int = 2) -> str:
    """Plain COPY runs between the others: C L C L C K I C (`rounds` loader runs). Each
    method is compared with the mean of the two COPY runs around it, so a drift of the shared
    machine's speed during the run (often +-30 % here) hits both sides of a ratio alike; the
    loader's figure is the median of its rounds."""
    say(f"ingest: preparing {rows:,} events")
    events = tool_events(rows)
    prepared = prepared_rows(TOOL_TABLE, events)
    columns = list(COLUMNS[TOOL_TABLE])
    lines = copy_text(prepared, columns)
    runs: list[Measure] = []
    with throwaway_db() as url, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        path = tmpdir / "events.ndjson"
        _ndjson(events, path)

        def copy_run(label: str) -> Measure:
            reset_table(url)
            m = Measure(label, rows, plain_copy(url, TOOL_TABLE, columns, lines))
            _check(url, rows, label)
            say(f"  {label}: {fmt_rate(m.rate)} rows/s")
            runs.append(m)
            return m

        def loader_run(label: str) -> Measure:
            reset_table(url)
            seconds = timed(
                lambda: load([path], url=url, table=None, rejects_path=tmpdir / "rejects.jsonl")
            )
            _check(url, rows, label)
            m = Measure(label, rows, seconds)
            say(f"  {label}: {fmt_rate(m.rate)} rows/s")
            runs.append(m)
            return m

        copy_run("plain COPY 1")
        for r in range(1, rounds + 1):
            loader_run(f"bulk loader (mcp-analytics ingest) {r}")
            copy_run(f"plain COPY {r + 1}")

        reset_table(url)
        seconds, stats = _collector(url, events, tmpdir / "spool")
        _check(url, rows, "collector")
        if stats.get("spooled") or stats.get("overflow_spooled"):
            say(f"  note: the collector spooled during the run: {stats}")
        runs.append(Measure("collector (default batch size)", rows, seconds))
        say(f"  collector: {fmt_rate(runs[-1].rate)} rows/s")

        reset_table(url)
        sample = prepared[:insert_rows]
        seconds = _row_at_a_time(url, sample)
        _check(url, len(sample), "row-at-a-time INSERT")
        runs.append(Measure("INSERT, one row per transaction", len(sample), seconds))
        say(f"  row-at-a-time INSERT: {fmt_rate(runs[-1].rate)} rows/s")

        copy_run(f"plain COPY {rounds + 2}")

    def copy_around(i: int) -> float:
        """Mean rate of the nearest plain COPY run before and after run i."""
        before = next(m for m in reversed(runs[:i]) if m.name.startswith("plain COPY"))
        after = next(m for m in runs[i + 1 :] if m.name.startswith("plain COPY"))
        return (before.rate + after.rate) / 2

    ratios = [
        m.rate / copy_around(i) if not m.name.startswith("plain COPY") else None
        for i, m in enumerate(runs)
    ]
    loader = statistics.median(
        r for m, r in zip(runs, ratios, strict=True) if m.name.startswith("bulk loader")
    )
    collector = next(r for m, r in zip(runs, ratios, strict=True) if m.name.startswith("collector"))
    insert_rate = runs[-2].rate
    collector_rate = next(m.rate for m in runs if m.name.startswith("collector"))
    copy_rates = [m.rate for m in runs if m.name.startswith("plain COPY")]
    report = [
        table(
            ["run (in order)", "rows", "seconds", "rows/s", "vs plain COPY around it"],
            [
                (
                    m.name,
                    f"{m.rows:,}",
                    f"{m.seconds:.1f}",
                    fmt_rate(m.rate),
                    "" if r is None else f"{r:.2f}x",
                )
                for m, r in zip(runs, ratios, strict=True)
            ],
        ),  # fmt: skip
        "",
        f"Plain COPY ran at {fmt_rate(min(copy_rates))}-{fmt_rate(max(copy_rates))} rows/s"
        " over the run (the machine's drift).",
        "",
        f"- bulk loader / plain COPY (median of {rounds}): {verdict(loader, 0.8)}",
        f"- collector / plain COPY: {verdict(collector, 0.5)}",
        f"- collector / row-at-a-time INSERT: {verdict(collector_rate / insert_rate, 5)}",
    ]
    return "\n".join(report)


def _indexes(conn: psycopg.Connection) -> list[tuple[str, str, str | None, str | None]]:
    """(name, index definition, constraint name, constraint definition) of the parent."""
    return conn.execute(
        """
        select ic.relname, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
        from pg_index as i
        join pg_class as ic on ic.oid = i.indexrelid
        left join pg_constraint as c on c.conindid = i.indexrelid and c.conrelid = i.indrelid
        where i.indrelid = %s::regclass
        order by ic.relname
        """,
        (TOOL_TABLE,),
    ).fetchall()


def _drop(conn: psycopg.Connection, index: tuple) -> None:
    name, _, conname, _ = index
    if conname:
        conn.execute(
            sql.SQL("alter table {} drop constraint {}").format(
                sql.Identifier(TOOL_TABLE), sql.Identifier(conname)
            )
        )
    else:
        conn.execute(sql.SQL("drop index {}").format(sql.Identifier(name)))


def _create(conn: psycopg.Connection, index: tuple) -> None:
    _, indexdef, conname, condef = index
    if conname:
        conn.execute(
            sql.SQL("alter table {} add constraint {} {}").format(
                sql.Identifier(TOOL_TABLE), sql.Identifier(conname), sql.SQL(condef)
            )
        )
    else:
        conn.execute(indexdef.replace(" ON ONLY ", " ON "))


def run_indexes(rows: int, rounds: int = 2, say=print) -> str:
    say(f"indexes: preparing {rows:,} events")
    events = tool_events(rows, seed=2)
    columns = list(COLUMNS[TOOL_TABLE])
    lines = copy_text(prepared_rows(TOOL_TABLE, events), columns)
    # label -> (best wall rows/s, best server CPU µs per row); the best of `rounds` runs is
    # the one least disturbed by other work on the machine.
    results: dict[str, tuple[float, float | None]] = {}
    with throwaway_db() as url, psycopg.connect(url, autocommit=True) as conn:
        indexes = _indexes(conn)

        def run(label: str) -> None:
            walls, cpus = [], []
            for _ in range(rounds):
                reset_table(url)
                wall, cpu = plain_copy_cpu(url, TOOL_TABLE, columns, lines)
                walls.append(wall)
                if cpu is not None:
                    cpus.append(cpu)
            rate = rows / min(walls)
            cpu_us = min(cpus) / rows * 1e6 if cpus else None
            results[label] = (rate, cpu_us)
            cpu_txt = f", {cpu_us:.0f} µs server CPU per row" if cpu_us is not None else ""
            say(f"  {label}: {fmt_rate(rate)} rows/s{cpu_txt}")

        run("all")
        for index in indexes:
            _drop(conn, index)
        run("none")
        reset_table(url)
        for index in indexes:
            _create(conn, index)
        for index in indexes:
            _drop(conn, index)
            run(index[0])
            reset_table(url)
            _create(conn, index)

    all_rate, all_cpu = results["all"]
    none_rate, none_cpu = results["none"]
    use_cpu = all_cpu is not None and none_cpu is not None

    def share(label: str) -> float:
        rate, cpu = results[label]
        if use_cpu:
            return (all_cpu - cpu) / all_cpu
        return (1 / all_rate - 1 / rate) * all_rate

    rows_out = []
    for index in sorted(indexes, key=lambda i: -share(i[0])):
        name, indexdef = index[0], index[1]
        rate, cpu = results[name]
        method = "gin" if "USING gin" in indexdef else "btree"
        cpu_txt = f"{cpu:.0f}" if cpu is not None else "n/a"
        rows_out.append((name, method, fmt_rate(rate), cpu_txt, f"{share(name):+.0%}"))
    basis = "server CPU time" if use_cpu else "wall time"
    head = (
        f"Every index: {fmt_rate(all_rate)} rows/s"
        + (f", {all_cpu:.0f} µs server CPU per row" if use_cpu else "")
        + f". No index at all: {fmt_rate(none_rate)} rows/s"
        + (f", {none_cpu:.0f} µs per row" if use_cpu else "")
        + ". Indexes take "
        + (
            f"{(all_cpu - none_cpu) / all_cpu:.0%}"
            if use_cpu
            else f"{(1 / all_rate - 1 / none_rate) * all_rate:.0%}"
        )
        + f" of the ingest cost ({basis}; best of {rounds} runs per line)."
    )
    return "\n".join(
        [
            head,
            "",
            table(
                [
                    "index dropped",
                    "type",
                    "rows/s without it",
                    "server CPU µs/row without it",
                    f"share of the cost ({basis})",
                ],
                rows_out,
            ),  # fmt: skip
        ]
    )

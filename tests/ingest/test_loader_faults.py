"""The loader under faults: killed by SIGTERM or SIGKILL mid-load, and loaders that race.

Real processes throughout: `mcp-analytics ingest` started as a subprocess, its worker
processes found in /proc, and the server's own view of sessions in pg_stat_activity.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.ingest.events import prepare
from mcp_analytics.ingest.loader import Loader, RejectsFile
from mcp_analytics.ingest.writer import write_batch
from tests.helpers.collector import wait_for
from tests.helpers.db import scalar
from tests.helpers.processes import alive, descendants

ROWS = 120_000
APP = "mcp-analytics-ingest"


def _tool(execution_id: str) -> dict:
    return {
        "execution_id": execution_id,
        "bcp_name": "faults",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 1,
    }


def _tool_line(i: int) -> str:
    return json.dumps(
        {
            "table": "tool_usage_logs",
            **_tool(f"kill-{i}"),
            "tool_name": f"t{i % 7}",
            "duration_ms": i % 1000,
            "timestamp": f"2026-05-06T07:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            "parameters": {"q": "x" * 40, "i": i},
        }
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "big.ndjson"
    with path.open("w") as fh:
        for i in range(ROWS):
            fh.write(_tool_line(i) + "\n")
    return path


def _open_files(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile (the listing's own fd, for one)
            continue
    return found


def _sessions(url: str) -> int:
    """Sessions of the test database other than ours (the loader's, if any is left)."""
    return scalar(
        url,
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and pid <> pg_backend_pid()",
    )


def _start(url: str, path: Path, tmp_path: Path, name: str) -> subprocess.Popen:
    """The real command; its output goes to files (an orphan holding a pipe would make
    reading it hang instead of failing the test)."""
    env = {**os.environ, "DATABASE_URL": url, "MCPA_STATE_DIR": str(tmp_path / "state")}
    env.pop("MCPA_INGEST_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mcp_analytics.cli", "ingest", "-q", "--workers", "1"]
        + ["--batch-rows", "2000", str(path)],
        env=env,
        stdout=(tmp_path / f"{name}.out").open("wb"),
        stderr=(tmp_path / f"{name}.err").open("wb"),
    )


def _output(tmp_path: Path, name: str) -> tuple[str, str]:
    return (tmp_path / f"{name}.out").read_text(), (tmp_path / f"{name}.err").read_text()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_killed_loader_leaves_nothing_behind_and_a_rerun_completes(
    bootstrapped_db, tmp_path, big_file, sig
):
    proc = _start(bootstrapped_db, big_file, tmp_path, "first")
    workers: set[int] = set()
    try:
        # Mid-load: some chunks committed, more to come, a worker process running.
        assert wait_for(
            lambda: scalar(bootstrapped_db, "select count(*) from tool_usage_logs") >= 10_000,
            timeout=120,
        ), _output(tmp_path, "first")
        workers = descendants(proc.pid)
        assert workers, "the loader has no worker process"
        assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") < ROWS
        proc.send_signal(sig)
        proc.wait(timeout=60)
        # No orphan: every worker died with the loader, and so did its database session.
        assert wait_for(lambda: not any(alive(p) for p in workers), timeout=10), workers
    finally:
        for pid in [proc.pid, *workers]:  # whatever the outcome, leave no process behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: _sessions(bootstrapped_db) == 0, timeout=10)
    out, err = _output(tmp_path, "first")
    committed = scalar(bootstrapped_db, "select count(*) from tool_usage_logs")
    if sig == signal.SIGTERM:
        # Handled: the summary of what was committed, a clear message, 128 + 15.
        assert proc.returncode == 143, err
        assert "stopped by SIGTERM" in err and "Traceback" not in err
        assert f"loaded {committed}, duplicates 0" in out
    else:
        assert proc.returncode == -signal.SIGKILL

    # The documented recovery: the same command again. It completes, and every row is
    # there exactly once.
    rerun = _start(bootstrapped_db, big_file, tmp_path, "rerun")
    try:
        rerun.wait(timeout=240)
    finally:
        if rerun.poll() is None:
            rerun.kill()
    out, err = _output(tmp_path, "rerun")
    assert rerun.returncode == 0, err
    assert f"loaded {ROWS - committed}, duplicates {committed}, rejected 0" in out
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == ROWS
    assert (
        scalar(bootstrapped_db, "select count(distinct execution_id) from tool_usage_logs") == ROWS
    )
    assert not descendants(rerun.pid)


def test_workers_do_not_hold_the_callers_sockets(bootstrapped_db, tmp_path):
    # A caller with its own connection, opened before the loader forks its workers: a worker
    # closes its copy of every inherited socket, so only the caller holds the session.
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        socket = f"socket:[{os.fstat(conn.fileno()).st_ino}]"
        loader = Loader(conn, rejects=RejectsFile(tmp_path / "r.jsonl"), workers=1)
        try:
            workers = descendants(os.getpid())
            assert workers
            assert all(socket not in _open_files(pid) for pid in workers)
            assert socket in _open_files(os.getpid())
            # Still a working loader, and the caller's connection still works.
            for i in range(2000):
                loader.feed("mem", i + 1, (_tool_line(i) + "\n").encode())
            loader.close()
        finally:
            loader.abort()
        assert loader.summary.loaded == 2000
        assert conn.execute("select count(*) from tool_usage_logs").fetchone()[0] == 2000


@pytest.mark.timeout(300)
def test_two_loaders_in_opposite_order_both_finish_every_row_once(bootstrapped_db, tmp_path):
    # The same rows (several tables) loaded by two real loaders at once, one file the other
    # reversed: they meet in the middle on the same keys, and both must finish.
    n = 40_000
    lines = []
    for i in range(n):
        lines.append(_tool_line(i))
        if i % 4 == 0:
            lines.append(
                json.dumps(
                    {
                        "table": "error_logs",
                        "level": "error",
                        "message": f"race {i}",
                        "timestamp": f"2026-05-06T08:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                    }
                )
            )
    forward, backward = tmp_path / "forward.ndjson", tmp_path / "backward.ndjson"
    forward.write_text("\n".join(lines) + "\n")
    backward.write_text("\n".join(reversed(lines)) + "\n")
    procs = {
        name: _start(bootstrapped_db, path, tmp_path, name)
        for name, path in (("forward", forward), ("backward", backward))
    }
    try:
        for proc in procs.values():
            proc.wait(timeout=240)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    loaded = duplicates = 0
    for name, proc in procs.items():
        out, err = _output(tmp_path, name)
        assert proc.returncode == 0, err
        first = out.splitlines()[0]  # "loaded L, duplicates D, rejected 0 (... lines read)"
        assert "rejected 0" in first, out
        loaded += int(first.split(",")[0].split()[1])
        duplicates += int(first.split(",")[1].split()[1])
    total = len(lines)
    assert (loaded, duplicates) == (total, total)
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == n
    assert scalar(bootstrapped_db, "select count(distinct execution_id) from tool_usage_logs") == n
    assert scalar(bootstrapped_db, "select count(*) from error_logs") == total - n


def test_a_deadlocked_batch_is_written_again(bootstrapped_db):
    # A deadlock forced by hand: another session holds row B and then asks for row A while
    # the batch holds A and waits for B. The batch's session is the one PostgreSQL aborts
    # (its deadlock_timeout fires first); write_batch writes it again once B is free.
    ts = dt.datetime(2026, 5, 6, 9, tzinfo=dt.UTC)
    rows = [prepare("tool_usage_logs", {**_tool(f"dl-{k}"), "timestamp": ts}) for k in "AB"]
    insert = (
        "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
        " duration_ms, success, \"timestamp\") values (%s, 'x', 't', 'o', 1, true, %s)"
    )
    outcome: dict[str, object] = {}
    with (
        psycopg.connect(bootstrapped_db, autocommit=True) as batch_conn,
        psycopg.connect(bootstrapped_db) as other,
    ):
        batch_conn.execute("set deadlock_timeout = '2s'")
        other.execute("set deadlock_timeout = '30s'")
        batch_pid = batch_conn.info.backend_pid
        other.execute(insert, ("dl-B", ts))  # `other` holds B (uncommitted)

        def run() -> None:
            try:
                outcome["result"] = write_batch(batch_conn, {"tool_usage_logs": rows})
            except Exception as err:  # noqa: BLE001 - reported by the assertions below
                outcome["error"] = err

        thread = threading.Thread(target=run)
        thread.start()
        assert wait_for(
            lambda: (
                scalar(
                    bootstrapped_db,
                    "select count(*) from pg_stat_activity"
                    " where pid = %s and wait_event_type = 'Lock'",
                    (batch_pid,),
                )
                == 1
            )
        )
        other.execute(insert, ("dl-A", ts))  # waits for the batch: a cycle
        other.commit()
        thread.join(timeout=60)
    assert "error" not in outcome, outcome
    result = outcome["result"]
    assert result.retries >= 1
    # The other session stored both keys first, with other values: conflicts, not duplicates.
    assert (result.total_inserted, result.total_duplicates, result.total_conflicts) == (0, 0, 2)
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == 2

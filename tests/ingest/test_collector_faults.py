"""The collector under faults: a full disk under its spool, and memory under a flood.

A real tiny filesystem (a 64 KB tmpfs mounted by the test, as root), a real outage (a database
that does not exist yet, created later), a real stall (a lock that blocks every insert) and
real threads; the collector's own counters are checked against what reached the database.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.collector import Collector
from mcp_analytics.collector.payloads import JsonText, measure
from mcp_analytics.collector.spool import Spool
from mcp_analytics.config import settings
from mcp_analytics.ingest.events import prepare
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.helpers.collector import record_call
from tests.helpers.db import scalar


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs, mounted for the test and unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full filesystem is made by mounting a 64 KB tmpfs, which needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free byte of `disk` with a filler file; returns it (delete it to free)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * 4096
        while True:
            try:
                fh.write(chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break
        for size in (1024, 256, 64, 16, 1):  # the last partial page too
            while True:
                try:
                    fh.write(b"\0" * size)
                except OSError:
                    break
    return filler


def _metric(i: int, tag: str, pad: int = 0) -> dict:
    return prepare(
        "performance_metrics",
        {
            "metric_name": tag,
            "metric_value": i,
            "aggregation_period": "1m",
            "labels": {"i": i, "pad": "x" * pad},
            "timestamp": f"2026-05-06T07:{i // 60 % 60:02d}:{i % 60:02d}Z",
        },
    )


def test_a_failed_append_leaves_no_torn_line(tiny_disk):
    spool = Spool(tiny_disk / "spool")
    spool.append({"performance_metrics": [_metric(i, "before") for i in range(3)]})
    (path,) = spool.pending()
    good = path.stat().st_size
    filler = _fill(tiny_disk)
    # Bigger than what is left in the file's last page: part of it would reach the disk.
    with pytest.raises(OSError) as failure:
        spool.append({"performance_metrics": [_metric(i, "refused", 3000) for i in range(3)]})
    assert failure.value.errno == errno.ENOSPC
    assert path.stat().st_size == good  # cut back to the last whole record
    filler.unlink()  # space returns
    spool.append({"performance_metrics": [_metric(i, "after") for i in range(3, 6)]})
    spool.close()
    rows, rejects = Spool.read(path)
    # The first record after the failure is whole: nothing swallowed it.
    assert rejects == []
    assert [r["metric_name"] for r in rows["performance_metrics"]] == ["before"] * 3 + ["after"] * 3


@pytest.fixture
def later_db(server_url: str) -> Iterator[tuple[str, callable]]:
    """The URL of a database that does not exist yet (an outage), and a function that
    creates and bootstraps it (the database comes back); dropped afterwards."""
    name = f"mcpa_test_{uuid.uuid4().hex[:12]}"
    url = db.with_database(server_url, name)
    admin = db.with_database(server_url, "postgres")

    def create() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)

    try:
        yield url, create
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _call(collector: Collector, i: int, tag: str, pad: int = 1500) -> None:
    record_call(collector, tag, i, parameters={"i": i, "pad": "p" * pad})


def _spooled(directory: Path) -> tuple[int, int]:
    """(rows, corrupt lines) in the spool files of `directory`."""
    rows = rejects = 0
    for path in sorted(directory.glob("spool-*.jsonl")):
        by_table, bad = Spool.read(path)
        rows += sum(len(r) for r in by_table.values())
        rejects += len(bad)
    return rows, rejects


def test_collector_holds_what_a_full_spool_refuses_and_loses_nothing(tiny_disk, later_db):
    url, create_db = later_db
    spool_dir = tiny_disk / "spool"
    collector = Collector(url, batch_size=5, flush_interval_ms=50, spool_dir=spool_dir).start()
    try:
        filler = _fill(tiny_disk)
        for i in range(20):
            _call(collector, i, "full")
        # The database is down and the disk full: held in memory, said so, nothing lost.
        assert not collector.flush(timeout=10)
        stats, health = collector.stats, collector.health
        assert stats["spool_errors"] >= 1 and "No space left" in stats["last_spool_error"]
        assert (stats["held_rows"], stats["lost"], stats["spooled"]) == (20, 0, 0)
        assert health["status"] == "failing" and health["spool"] == "failing"
        assert _spooled(spool_dir)[1] == 0  # no torn line left behind

        filler.unlink()  # space returns: the held rows go to the spool, whole
        assert collector.flush(timeout=30)
        stats = collector.stats
        assert (stats["held_rows"], stats["spooled"], stats["lost"]) == (0, 20, 0)
        assert _spooled(spool_dir) == (20, 0)
        assert collector.health["status"] == "degraded"  # database down, spool fine

        create_db()  # the database comes back: the spool is replayed
        assert collector.flush(timeout=30)
        assert collector.stats["replayed"] == 20 and collector.health["status"] == "ok"
    finally:
        assert collector.close(30)
    assert scalar(url, "select count(*) from tool_usage_logs where bcp_name = 'full'") == 20
    assert scalar(url, "select count(*) from ingest_rejects") == 0
    assert _spooled(spool_dir) == (0, 0)


def test_past_its_memory_bound_the_collector_counts_what_it_loses(tiny_disk, later_db):
    url, _ = later_db
    collector = Collector(
        url,
        batch_size=2,
        flush_interval_ms=20,
        spool_dir=tiny_disk / "spool",
        max_buffer_bytes=30_000,  # a few events of ~3 KB
    ).start()
    try:
        _fill(tiny_disk)
        for i in range(40):
            _call(collector, i, "lost", pad=1800)
        collector.flush(timeout=10)
        stats = collector.stats
        # Held up to the bound, the rest counted as lost (and logged), never raised.
        assert stats["held_rows"] >= 1 and stats["lost"] >= 1
        assert stats["held_rows"] + stats["lost"] == 40
        assert stats["buffered_bytes"] <= 30_000
        assert collector.health["lost"] == stats["lost"]
    finally:
        collector.close(10)
    # What was still held when it stopped is counted as lost too.
    assert collector.stats["lost"] == 40 and collector.stats["held_rows"] == 0


def test_large_payloads_are_measured_as_text_and_cut_on_the_callers_side():
    result = {"content": [{"type": "text", "text": "r" * 20_000}], "isError": False}
    event = {"response_data": result, "parameters": {"q": 1}}
    size, cut = measure("tool_usage_logs", event, max_payload_bytes=1 << 20)
    assert cut == 0 and type(event["response_data"]) is JsonText
    assert 20_000 < size < 24_000  # the text, not the object graph
    assert event["parameters"] == {"q": 1}  # small: kept as is

    huge = {"response_data": {"rows": ["x" * 1000] * 3000}, "parameters": ["y" * 1000] * 3000}
    size, cut = measure("tool_usage_logs", huge, max_payload_bytes=1 << 20)
    assert cut == 1
    assert huge["response_data"]["capped_by"] == "collector"
    assert huge["response_data"]["original_size_bytes"] > 3_000_000
    assert len(huge["response_data"]["preview"]) == 256
    assert type(huge["parameters"]) is JsonText  # parameters are never cut
    assert size < 3_200_000


def test_buffer_bounded_in_bytes_under_eight_threads(bootstrapped_db, tmp_path):
    # Every insert blocked by a lock: the buffer fills; 8 threads keep recording 20 KB
    # results. The accounted bytes never pass the bound (back-pressure: the callers spool),
    # and once the lock goes every event is stored once.
    bound = 2 << 20
    collector = Collector(
        bootstrapped_db,
        batch_size=20,
        flush_interval_ms=20,
        spool_dir=tmp_path / "spool",
        max_buffer_bytes=bound,
    ).start()
    collector.flush(timeout=10)  # connected, settings read
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, collector.stats["buffered_bytes"])

    def record(worker: int) -> None:
        for i in range(100):
            record_call(
                collector,
                "flood",
                i,
                execution_id=f"flood-{worker}-{i}",
                response_data={"content": [{"type": "text", "text": f"{i:05d}" * 4000}]},
            )

    with psycopg.connect(bootstrapped_db) as blocker:
        blocker.execute("lock table tool_usage_logs in access exclusive mode")
        watcher = threading.Thread(target=watch)
        watcher.start()
        threads = [threading.Thread(target=record, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        stop.set()
        watcher.join()
        stats = collector.stats
        blocker.rollback()
    try:
        assert stats["recorded"] == 800
        assert stats["overflow_spooled"] > 0
        assert 0 < peak <= bound
        assert collector.flush(timeout=120)
    finally:
        assert collector.close(60)
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == 800
    assert collector.stats["lost"] == 0


def test_a_result_cut_by_the_caller_is_stored_as_a_marker(bootstrapped_db, tmp_path):
    with Collector(
        bootstrapped_db, spool_dir=tmp_path / "spool", max_payload_bytes=100_000
    ) as collector:
        record_call(
            collector,
            "big",
            response_data={"rows": [{"token": "s3cr3t-value", "v": "z" * 500}] * 1000},
        )
        assert collector.flush(timeout=30)
        assert collector.stats["capped"] == 1
    with psycopg.connect(bootstrapped_db) as conn:
        data, size = conn.execute(
            "select response_data, response_size_bytes from tool_usage_logs"
        ).fetchone()
    assert data["_truncated"] is True and data["capped_by"] == "collector"
    assert data["original_size_bytes"] > 500_000 and size is not None
    assert "s3cr3t" not in str(data)  # the preview went through redaction

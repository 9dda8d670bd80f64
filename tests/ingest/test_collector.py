"""The collector against a real database: flush triggers, settings, spool, overflow, shutdown."""

from __future__ import annotations

import json
import os
import time
import uuid

from mcp_analytics.collector import Collector
from mcp_analytics.collector.core import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL_MS
from tests.helpers.collector import record_call, wait_for
from tests.helpers.db import scalar, set_config

UNREACHABLE = "postgresql://postgres@/nowhere?host=/nonexistent-mcpa-socket&port=1"


def _calls(c: Collector, bcp: str, n: int) -> list[str]:
    return [record_call(c, bcp, i) for i in range(n)]


def _rows(url: str, bcp: str) -> int:
    return scalar(url, "select count(*) from tool_usage_logs where bcp_name = %s", (bcp,))


def test_flush_by_size(module_db, tmp_path):
    bcp = f"size-{uuid.uuid4().hex[:8]}"
    with Collector(module_db, batch_size=5, flush_interval_ms=3_600_000, spool_dir=tmp_path) as c:
        _calls(c, bcp, 4)
        time.sleep(0.5)
        assert _rows(module_db, bcp) == 0  # below the batch size, long interval: still buffered
        _calls(c, bcp, 1)
        assert wait_for(lambda: _rows(module_db, bcp) == 5)
        _calls(c, bcp, 3)
    # close() flushed the remainder.
    assert _rows(module_db, bcp) == 8


def test_flush_by_time(module_db, tmp_path):
    bcp = f"time-{uuid.uuid4().hex[:8]}"
    with Collector(module_db, batch_size=1000, flush_interval_ms=300, spool_dir=tmp_path) as c:
        start = time.monotonic()
        _calls(c, bcp, 3)
        assert wait_for(lambda: _rows(module_db, bcp) == 3, timeout=10)
        assert time.monotonic() - start >= 0.25  # not before the interval
        assert c.stats["written"] == 3


def test_settings_come_from_system_configuration(bootstrapped_db, tmp_path):
    set_config(bootstrapped_db, "analytics.batch_size", 3)
    c = Collector(bootstrapped_db, spool_dir=tmp_path, flush_interval_ms=3_600_000).start()
    try:
        assert wait_for(lambda: c.batch_size == 3)
        _calls(c, "cfg", 3)
        assert wait_for(lambda: _rows(bootstrapped_db, "cfg") == 3)
        set_config(bootstrapped_db, "analytics.enabled", False)
        c._refresh_config(force=True)  # normally every minute
        assert not c.enabled
        _calls(c, "cfg", 2)
        assert c.stats["dropped_by_disabled"] == 2
    finally:
        c.close()
    assert _rows(bootstrapped_db, "cfg") == 3


def test_unreachable_database_spools_then_replays(module_db, tmp_path):
    bcp = f"down-{uuid.uuid4().hex[:8]}"
    c = Collector(UNREACHABLE, spool_dir=tmp_path).start()
    ids = _calls(c, bcp, 7)
    c.record_error(level="error", message=f"e {bcp}")
    assert c.flush(10)
    stats = c.stats
    assert (c.batch_size, c.flush_interval_ms) == (DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL_MS)
    assert stats["spooled"] == 8 and stats["written"] == 0 and stats["retries"] >= 1
    assert stats["last_error"] and "nonexistent" in stats["last_error"]
    assert c.close(10)
    files = list(tmp_path.glob("spool-*.jsonl"))
    assert files and all(f.stat().st_mode & 0o077 == 0 for f in files)
    spooled = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {s["row"]["execution_id"] for s in spooled if s["table"] == "tool_usage_logs"} == set(
        ids
    )

    # A later collector (after a restart) replays the spool on its own, then deletes it.
    with Collector(module_db, spool_dir=tmp_path) as again:
        assert again.flush(10)
        assert again.stats["replayed"] == 8
    assert _rows(module_db, bcp) == 7
    assert (
        scalar(module_db, "select count(*) from error_logs where message = %s", (f"e {bcp}",)) == 1
    )
    assert not list(tmp_path.glob("spool-*.jsonl"))


def test_full_buffer_spools_instead_of_dropping(module_db, tmp_path):
    bcp = f"full-{uuid.uuid4().hex[:8]}"
    c = Collector(
        UNREACHABLE,
        spool_dir=tmp_path,
        max_buffer=5,
        batch_size=10_000,
        flush_interval_ms=3_600_000,
    ).start()
    _calls(c, bcp, 12)
    assert c.stats["overflow_spooled"] == 7
    c.close(10)
    with Collector(module_db, spool_dir=tmp_path) as again:
        again.flush(10)
    assert _rows(module_db, bcp) == 12


def test_invalid_events_are_rejected_not_raised(module_db, tmp_path):
    bcp = f"bad-{uuid.uuid4().hex[:8]}"
    with Collector(module_db, spool_dir=tmp_path) as c:
        c.record_tool_call(
            bcp_name=bcp,
            tool_name="t",
            operation="o",
            success=True,
            duration_ms=-1,  # a label too long is stored cut (test_limits.py), not rejected
            parameters={"password": "pw-in-reject"},
        )
        c.record_metric(metric_name=bcp, metric_value=1, aggregation_period="3m")
        _calls(c, bcp, 2)
        assert c.flush(10)
        assert c.stats["rejected"] == 2
    assert _rows(module_db, bcp) == 2
    rejects = scalar(
        module_db, "select count(*) from ingest_rejects where raw like %s", (f"%{bcp}%",)
    )
    assert rejects == 2
    leaked = scalar(
        module_db, "select count(*) from ingest_rejects where raw like '%pw-in-reject%'"
    )
    assert leaked == 0


def test_record_never_raises_and_does_no_io(tmp_path):
    c = Collector(UNREACHABLE, spool_dir=tmp_path, flush_interval_ms=3_600_000, batch_size=10_000)
    # Garbage in: no exception reaches the caller (it becomes a reject later).
    c.record_tool_call(
        bcp_name=None, tool_name=object(), operation="o", success="?", duration_ms="x"
    )
    for i in range(2000):
        c.record_metric(metric_name="m", metric_value=i, aggregation_period="1m")
    # Everything is still in memory: recording touched neither the database nor the disk.
    assert c.stats["buffered"] == 2001 and c.stats["spooled"] == 0
    assert not list(tmp_path.glob("spool-*"))
    assert c.close(10)
    assert c.stats["spooled"] == 2000 and c.stats["buffered"] == 0


def test_spool_left_by_a_crash_is_replayed_torn_line_kept_as_reject(module_db, tmp_path):
    tag = f"torn-{uuid.uuid4().hex[:8]}"
    row = {
        "table": "performance_metrics",
        "row": {
            "metric_name": tag,
            "metric_value": "1.5000",
            "labels": "{}",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "aggregation_period": "1m",
            "measurement_type": None,
            "unit": None,
            "service": "mcp-server",
            "environment": "production",
        },
    }
    spool = tmp_path / "spool-20260101T000000-1-1.jsonl"
    spool.write_text(json.dumps(row) + "\n" + '{"table": "performance_metrics", "row": {"met')
    with Collector(module_db, spool_dir=tmp_path) as c:
        assert c.flush(10)
        assert c.stats["replayed"] == 1 and c.stats["rejected"] == 1
    assert not spool.exists()
    assert (
        scalar(module_db, "select count(*) from performance_metrics where metric_name = %s", (tag,))
        == 1
    )
    torn = "select count(*) from ingest_rejects where reason like 'corrupt spool line%%'"
    assert scalar(module_db, torn) == 1


def _child_records(url: str, spool: str, tag: str, collector_holder: list) -> None:
    c = collector_holder[0]  # inherited through fork, started in the parent
    _record_metrics(c, tag, "child", 5)
    os._exit(0 if c.flush(20) and c.close(20) else 1)


def _record_metrics(c: Collector, tag: str, who: str, n: int) -> None:
    for i in range(n):
        c.record_metric(
            metric_name=tag, metric_value=i, aggregation_period="1m", labels={"who": who, "i": i}
        )


def test_a_forked_child_gets_a_working_collector(module_db, tmp_path):
    import multiprocessing

    tag = f"fork-{uuid.uuid4().hex[:8]}"
    c = Collector(module_db, spool_dir=tmp_path, flush_interval_ms=3_600_000).start()
    _record_metrics(c, tag, "parent", 3)
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_records, args=(module_db, str(tmp_path), tag, [c]))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert c.close(20)
    query = "select count(*) from performance_metrics where metric_name = %s"
    assert scalar(module_db, query, (tag,)) == 8

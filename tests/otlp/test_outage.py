"""The receiver through a database outage: exports are spooled and answered 200, replayed once
the database is back, nothing lost or duplicated; with a full spool, 503 and Retry-After.

The test stops a server, so it runs its own throwaway embedded server (never the shared one).
"""

from __future__ import annotations

import psycopg
import pytest
import requests

from mcp_analytics.otlp.receiver import ReceiverConfig
from mcp_analytics.warehouse import embedded
from tests.helpers import servers
from tests.helpers.collector import wait_for
from tests.helpers.otlp_receiver import running

from . import otlp_data as d

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def own_server():
    with servers.own_server("mcpa-otlp-outage-") as server:
        yield server


def _export(url: str, n: int) -> tuple[int, list[str], requests.Response]:
    spans = [d.mcp_span() for _ in range(n)]
    answer = requests.post(
        url + "/v1/traces", data=d.traces(*spans).SerializeToString(), headers=PB, timeout=60
    )
    return answer.status_code, [s.span_id.hex() for s in spans], answer


def test_outage_spools_then_replays(own_server, tmp_path):
    pgdata, db = own_server
    spool = tmp_path / "spool"
    acknowledged: list[str] = []
    with running(db, spool) as r:
        status, ids, _ = _export(r.url, 10)
        assert status == 200
        acknowledged += ids
        embedded.stop(pgdata)  # the database goes away
        for _ in range(3):
            status, ids, _ = _export(r.url, 10)
            assert status == 200  # spooled, acknowledged
            acknowledged += ids
        assert list(spool.glob("spool-*.jsonl"))
        assert r.sink.stats["spooled_rows"] == 30
        # A retry of an export spooled during the outage: stored once after replay.
        embedded.start(pgdata)
        status, ids, _ = _export(r.url, 10)
        assert status == 200
        acknowledged += ids
        assert wait_for(lambda: not list(spool.glob("spool-*.jsonl")), timeout=60)
    with psycopg.connect(db, autocommit=True) as conn:
        stored = [row[0] for row in conn.execute("select span_id from tool_usage_logs")]
    assert sorted(stored) == sorted(acknowledged)  # all of them, once each


def test_full_spool_answers_503_and_keeps_what_it_acknowledged(own_server, tmp_path):
    pgdata, db = own_server
    spool = tmp_path / "spool"
    config = ReceiverConfig(max_spool_bytes=1, retry_after_s=7)
    with running(db, spool, config) as r:
        embedded.stop(pgdata)
        first, ids, _ = _export(r.url, 5)
        assert first == 200  # the spool was empty: it takes the batch
        second, _, answer = _export(r.url, 5)
        assert second == 503 and answer.headers["retry-after"] == "7"
        embedded.start(pgdata)
        assert wait_for(lambda: not list(spool.glob("spool-*.jsonl")), timeout=60)
        third, more, _ = _export(r.url, 5)
        assert third == 200
    with psycopg.connect(db, autocommit=True) as conn:
        stored = sorted(row[0] for row in conn.execute("select span_id from tool_usage_logs"))
    assert stored == sorted(ids + more)

"""An outage in the middle of a burst loses nothing and duplicates nothing.

The test stops a server, so it runs its own throwaway embedded server (never the shared one),
even under DATABASE_URL.
"""

from __future__ import annotations

import psycopg
import pytest

from mcp_analytics.collector import Collector
from mcp_analytics.warehouse import embedded
from tests.helpers import servers
from tests.helpers.collector import record_call, wait_for


@pytest.fixture
def own_server():
    with servers.own_server("mcpa-outage-") as server:
        yield server


def test_outage_mid_burst_loses_and_duplicates_nothing(own_server, tmp_path):
    pgdata, url = own_server
    spool = tmp_path / "spool"
    c = Collector(url, batch_size=20, flush_interval_ms=100, spool_dir=spool).start()
    ids = []

    def burst(n: int, tag: str) -> None:
        for i in range(n):
            ids.append(record_call(c, tag, i))
            if i % 10 == 0:
                c.record_request(
                    method="POST",
                    path="/mcp",
                    response_status_code=200,
                    duration_ms=i,
                    success=True,
                    request_id=f"{tag}-{i}",
                )
                c.record_error(level="error", message=f"{tag} {i}")
                c.record_metric(
                    metric_name=tag, metric_value=i, aggregation_period="1m", labels={"i": i}
                )

    burst(300, "before")
    assert wait_for(lambda: c.stats["written"] > 0)
    embedded.stop(pgdata)  # the database goes away mid-burst
    burst(300, "during")
    assert c.flush(30)
    during = c.stats
    assert during["spooled"] > 0 and during["retries"] >= 1
    assert list(spool.glob("spool-*.jsonl"))

    embedded.start(pgdata)
    burst(300, "after")
    assert c.flush(30)
    assert wait_for(lambda: not list(spool.glob("spool-*.jsonl")), timeout=30)
    assert c.close(30)

    with psycopg.connect(url, autocommit=True) as conn:
        tools = conn.execute("select execution_id from tool_usage_logs").fetchall()
        counts = {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("mcp_request_logs", "error_logs", "performance_metrics")
        }
    stored = [r[0] for r in tools]
    assert len(stored) == len(set(stored)) == 900  # nothing lost, nothing twice
    assert set(stored) == set(ids)
    assert counts == {"mcp_request_logs": 90, "error_logs": 90, "performance_metrics": 90}
    stats = c.stats
    assert stats["replayed"] > 0 and stats["buffered"] == 0

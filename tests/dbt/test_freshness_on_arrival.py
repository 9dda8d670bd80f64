"""dbt's source freshness reads `received_at` (set by the database on arrival), not the
senders' clocks: a row dated tomorrow does not make a table that stopped receiving look fresh."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt

pytestmark = pytest.mark.slow

INSERT = (
    "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms,"
    " success, \"timestamp\", received_at) values (%s, 'b', 't', 'o', 1, true, %s, %s)"
)


def _status(url: str, target: Path) -> str:
    proc = run_dbt(
        ["source", "freshness", "--select", "source:mcp.tool_usage_logs"],
        url=url,
        target_path=target,
        capture=True,
    )
    results = json.loads((target / "sources.json").read_text())["results"]
    assert len(results) == 1, proc.stdout[-3000:]
    return results[0]["status"]


def test_freshness_is_measured_on_arrival(bootstrapped_db: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # nothing arrived for three days; the last sender's clock runs a day ahead
        conn.execute(INSERT, ("stalled", now + timedelta(hours=20), now - timedelta(days=3)))
    assert _status(bootstrapped_db, tmp_path) == "error"
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # a row arrives now, dated a week ago (late data): the table is fresh again
        conn.execute(INSERT, ("late", now - timedelta(days=7), now))
    assert _status(bootstrapped_db, tmp_path) == "pass"

"""The raw observation measures arrival (`received_at`, set by the database), not the senders'
event times: a row dated in the future cannot make a stalled table look fresh, and a time
PostgreSQL holds but Python does not (year 10000, 1 BC) cannot break the observation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from mcp_analytics.orchestration.defs.raw_assets import observe_metadata
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.tables import table_stats

INSERT = (
    "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms,"
    " success, \"timestamp\", received_at) values (%s, 'b', 't', 'o', 1, true, %s, %s)"
)


def test_observation_reports_arrival_and_versions_on_it(bootstrapped_db):
    now = datetime.now(UTC)
    stalled = now - timedelta(days=3)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # the last rows arrived three days ago; one of them claims to be from tomorrow
        conn.execute(INSERT, ("a", now - timedelta(days=3, hours=1), stalled))
        conn.execute(INSERT, ("b", now + timedelta(hours=20), stalled))
    postgres = PostgresResource(database_url=bootstrapped_db)
    version, metadata = observe_metadata(postgres, "tool_usage_logs")
    assert metadata["last_received_at"].value == stalled.timestamp()
    assert metadata["dagster/last_updated_timestamp"].value == stalled.timestamp()
    assert metadata["newest_timestamp"].value > now.timestamp()  # what the sender said
    assert version == f"2:{stalled.isoformat()}"

    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(INSERT, ("c", now - timedelta(days=30), now))  # a late row arrives now
    later, metadata = observe_metadata(postgres, "tool_usage_logs")
    assert later != version and metadata["last_received_at"].value == now.timestamp()


def test_times_python_cannot_hold_do_not_break_the_observation(bootstrapped_db):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # around ingest's window: plain SQL (ingest rejects them, tests/ingest)
        for key, stamp in (("bc", "0001-01-01 00:00:00+01"), ("far", "9999-12-31 23:59:59-12")):
            conn.execute(
                "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
                " duration_ms, success, \"timestamp\") values (%s, 'b', 't', 'o', 1, true, %s)",
                (key, stamp),
            )
        stats = table_stats(conn, "tool_usage_logs")
    assert stats.row_count == 2
    assert stats.oldest.year == 1 and stats.newest.year == 9999
    assert stats.last_received is not None

"""mart_register_sources() (bootstrap_sql/050) in SQL: what it accepts, what it refuses, and the
one wait that keeps a new mart's first build from missing a writer in flight."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

HOUR = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
SHIPPED = {
    ("tool_usage_logs", "hourly_tool_usage_summary"),
    ("mcp_request_logs", "hourly_request_summary"),
    ("error_logs", "daily_error_summary"),
    ("performance_metrics", "performance_metrics_summary"),
    ("hourly_tool_usage_summary", "daily_tool_usage_summary"),
}


def _register(conn: psycopg.Connection, mart: str, *sources: str) -> int:
    return conn.execute(
        "select mart_register_sources(%s, %s::text[])", (mart, list(sources))
    ).fetchone()[0]


def _sources(conn: psycopg.Connection, mart: str) -> set[str]:
    rows = conn.execute("select source_table from mart_sources where mart = %s", (mart,))
    return {r[0] for r in rows}


def _insert_call(conn: psycopg.Connection, tag: str) -> None:
    conn.execute(
        "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, "
        "duration_ms, success, \"timestamp\") values (%s, 'b', 't', 'o', 1, true, %s)",
        (tag, HOUR),
    )


def test_registration_is_idempotent_and_the_declaration_is_the_whole_truth(
    module_db: str,
) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        # the shipped marts' rows from 010 are what they declare: registering them adds nothing
        for source, mart in SHIPPED:
            assert _register(conn, mart, source) == 0
        assert set(conn.execute("select source_table, mart from mart_sources").fetchall()) == (
            SHIPPED
        )
        assert _register(conn, "errors_by_tool", "tool_usage_logs", "error_logs") == 2
        assert _register(conn, "errors_by_tool", "tool_usage_logs", "error_logs") == 0
        assert _register(conn, "errors_by_tool", "error_logs") == 0
        assert _sources(conn, "errors_by_tool") == {"error_logs"}
        # a mart may follow a registered mart
        assert _register(conn, "weekly_errors", "errors_by_tool") == 1
        # and the triggers mark the new marts' buckets from now on
        conn.execute("delete from mart_dirty_buckets")
        conn.execute(
            "insert into error_logs (level, message, \"timestamp\") values ('error', 'x', %s)",
            (HOUR,),
        )
        marked = conn.execute("select mart, bucket from mart_dirty_buckets").fetchall()
        assert ("errors_by_tool", HOUR) in marked
        assert ("daily_error_summary", HOUR) in marked
        conn.execute("delete from mart_sources where mart in ('errors_by_tool', 'weekly_errors')")


@pytest.mark.parametrize(
    ("mart", "sources", "message"),
    [
        ("x", ["users"], "neither a raw table with the late-data triggers nor a registered mart"),
        ("x", ["no_such_table"], "neither a raw table"),
        ("x", [], "declares no ledger source"),
        ("Bad Name", ["tool_usage_logs"], "plain lowercase identifier"),
        ("x", ["tool_usage_logs; drop table users"], "cannot follow"),
        ("x", ["x"], "cannot follow"),
    ],
)
def test_registration_refuses_what_the_triggers_cannot_feed(
    module_db: str, mart: str, sources: list[str], message: str
) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            _register(conn, mart, *sources)
        assert _sources(conn, mart) == set()


def test_a_new_registration_waits_for_writers_in_flight(module_db: str) -> None:
    with (
        psycopg.connect(module_db, autocommit=True) as writer,
        psycopg.connect(module_db, autocommit=True) as registrar,
    ):
        registrar.execute("set lock_timeout = '1s'")
        with writer.transaction():
            # its trigger runs now and sees no 'calls_per_hour': it marks nothing for it
            _insert_call(writer, "in-flight")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                _register(registrar, "calls_per_hour", "tool_usage_logs")
            # a registration that adds nothing takes no lock
            assert _register(registrar, "hourly_tool_usage_summary", "tool_usage_logs") == 0
        assert _register(registrar, "calls_per_hour", "tool_usage_logs") == 1
        registrar.execute("delete from mart_sources where mart = 'calls_per_hour'")

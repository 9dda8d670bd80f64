"""The shared write path: idempotent per table, PostgreSQL-refused rows isolated, schema in sync."""

from __future__ import annotations

import psycopg
import pytest

from mcp_analytics.ingest.events import TABLES, prepare
from mcp_analytics.ingest.writer import RejectRecord, write_batch
from tests.helpers.db import scalar

TS = "2026-03-04T05:06:07.123456Z"

EVENTS = {
    "tool_usage_logs": lambda i: {
        "execution_id": f"w-{i}",
        "bcp_name": "b",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": i,
        "timestamp": TS,
        "parameters": {"i": i},
    },
    "mcp_request_logs": lambda i: {
        "request_id": f"w-{i}",
        "method": "POST",
        "path": "/mcp",
        "response_status_code": 200,
        "duration_ms": i,
        "success": True,
        "timestamp": TS,
    },
    "error_logs": lambda i: {
        "level": "error",
        "message": f"boom {i}",
        "timestamp": TS,
        "request_id": f"w-{i}",
    },
    "performance_metrics": lambda i: {
        "metric_name": "latency",
        "metric_value": i,
        "aggregation_period": "1m",
        "timestamp": TS,
        "labels": {"i": i},
    },
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_same_batch_twice_adds_nothing(module_db, table):
    # module_db: each table is written by its own parameter only; the other tests of this
    # module that write use fresh databases.
    rows = [prepare(table, EVENTS[table](i)) for i in range(20)]
    with psycopg.connect(module_db, autocommit=True) as conn:
        first = write_batch(conn, {table: rows})
        again = write_batch(conn, {table: rows})
        # A retry that overlaps: half old, half new.
        more = [prepare(table, EVENTS[table](i)) for i in range(10, 30)]
        third = write_batch(conn, {table: more})
    assert (first.inserted[table], first.duplicates[table]) == (20, 0)
    assert (again.inserted[table], again.duplicates[table]) == (0, 20)
    assert (third.inserted[table], third.duplicates[table]) == (10, 10)
    assert scalar(module_db, f"select count(*) from {table}") == 30


def test_refused_rows_are_isolated_and_recorded(bootstrapped_db):
    rows = [prepare("error_logs", EVENTS["error_logs"](i)) for i in range(40)]
    # A constraint only PostgreSQL checks: rows 7 and 31 break it (bisection finds them).
    rows[7]["error_code"] = "987654"
    rows[31]["error_code"] = "987655"
    extra = RejectRecord(source="loader", reason="invalid JSON", raw="{", line_number=3)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "alter table error_logs add constraint no_987 check (error_code not like '987%')"
        )
        result = write_batch(conn, {"error_logs": rows}, [extra], reject_source="loader")
        again = write_batch(conn, {"error_logs": rows}, [extra], reject_source="loader")
    assert sorted(r.index for r in result.rejects) == [7, 31]
    assert "no_987" in result.rejects[0].reason
    assert result.inserted["error_logs"] == 38 and again.duplicates["error_logs"] == 38
    assert scalar(bootstrapped_db, "select count(*) from error_logs") == 38
    # Rejects are recorded once, even though the batch was written twice.
    assert scalar(bootstrapped_db, "select count(*) from ingest_rejects") == 3
    assert (
        scalar(bootstrapped_db, "select count(*) from ingest_rejects where raw like '%987654%'")
        == 1
    )


def test_needs_autocommit(bootstrapped_db):
    with psycopg.connect(bootstrapped_db) as conn, pytest.raises(ValueError, match="autocommit"):
        write_batch(conn, {})


def test_event_schema_matches_the_database(module_db):
    """events.TABLES is the documented schema: it must match the real columns and types."""
    query = """
        select column_name, data_type, udt_name, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable
        from information_schema.columns
        where table_schema = 'public' and table_name = %s
            and column_name not in ('id', 'received_at')
        order by ordinal_position
    """
    with psycopg.connect(module_db, autocommit=True) as conn:
        for table, columns in TABLES.items():
            actual = {r[0]: r for r in conn.execute(query, (table,)).fetchall()}
            assert set(actual) == {c.name for c in columns}, table
            for col in columns:
                name, data_type, udt, length, precision, scale, nullable = actual[col.name]
                if col.kind == "varchar":
                    assert (udt, length) == ("varchar", col.max_length), (table, name)
                elif col.kind == "numeric":
                    assert (udt, precision, scale) == ("numeric", *col.precision), (table, name)
                else:
                    expected = {
                        "text": "text",
                        "int": "int4",
                        "bool": "bool",
                        "jsonb": "jsonb",
                        "inet": "inet",
                        "timestamptz": "timestamptz",
                        "level": "error_level_enum",
                    }[col.kind]
                    assert udt == expected, (table, name, udt)
                if nullable == "NO":
                    filled = col.required or col.default is not None or name == "timestamp"
                    assert filled, (table, name)


def test_lone_surrogates_do_not_fail_the_batch(bootstrapped_db):
    event = {**EVENTS["tool_usage_logs"](1), "error_message": "bad \ud800 text"}
    event["parameters"] = {"q": "x\udfff"}
    rows = [
        prepare("tool_usage_logs", event),
        prepare("tool_usage_logs", EVENTS["tool_usage_logs"](2)),
    ]
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        result = write_batch(conn, {"tool_usage_logs": rows})
        stored = conn.execute(
            "select error_message from tool_usage_logs where execution_id = 'w-1'"
        ).fetchone()[0]
    assert result.inserted["tool_usage_logs"] == 2 and not result.rejects
    assert stored == "bad ? text"


def test_duplicates_inside_one_batch(bootstrapped_db):
    """The first (plain COPY) attempt fails on the repeated key; staging dedupes it."""
    rows = [prepare("mcp_request_logs", EVENTS["mcp_request_logs"](i)) for i in (1, 2, 1, 3, 2)]
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        result = write_batch(conn, {"mcp_request_logs": rows})
    assert (result.inserted["mcp_request_logs"], result.duplicates["mcp_request_logs"]) == (3, 2)
    assert scalar(bootstrapped_db, "select count(*) from mcp_request_logs") == 3

"""Labels longer than their column: never a lost row. Widened where a standard allows more
(bootstrap_sql/060), else stored cut with a marker, the original kept on the row, counted."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import Counter

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import (
    CUT_MARK,
    MAX_ORIGINAL_CHARS,
    TABLES,
    cut_to_fit,
    prepare,
)
from mcp_analytics.ingest.loader import load_text
from tests.helpers.telemetry import MINIMAL_TOOL_CALL

#: The smallest valid event of each table (every required field).
REQUIRED = {
    "tool_usage_logs": MINIMAL_TOOL_CALL,
    "mcp_request_logs": {
        "request_id": "r",
        "method": "GET",
        "path": "/mcp",
        "response_status_code": 200,
        "duration_ms": 1,
        "success": True,
    },
    "error_logs": {"level": "error", "message": "m"},
    "performance_metrics": {"metric_name": "m", "metric_value": 1, "aggregation_period": "1m"},
}

#: Every label column: varchar, given by the producer (not computed), free (no fixed choices).
LABELS = [
    (table, col.name, col.max_length)
    for table, cols in TABLES.items()
    for col in cols
    if col.kind == "varchar" and not col.computed and col.choices is None
]


# One base for the module: a stamp written and the same stamp read back must be equal, also
# when a second passes between them on a slow machine.
_BASE = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def _stamp(i: int) -> str:
    return (_BASE + dt.timedelta(milliseconds=i)).isoformat()


def _row(conn: psycopg.Connection, table: str, column: str, stamp: str) -> tuple:
    return conn.execute(
        sql.SQL('select {}, original_values from {} where "timestamp" = %s').format(
            sql.Identifier(column), sql.Identifier(table)
        ),
        (stamp,),
    ).fetchone()


def test_every_label_longer_than_its_column_is_stored_cut_with_its_original(bootstrapped_db):
    lines, expected = [], {}
    for i, (table, column, width) in enumerate(LABELS):
        # distinct originals that share their first `width` characters
        original = f"{column}-" + "x" * width + f"-end-{i}"
        event = {**REQUIRED[table], column: original, "timestamp": _stamp(i), "table": table}
        lines.append(json.dumps(event))
        expected[(table, column)] = (original, width, _stamp(i))
    summary = load_text("\n".join(lines), url=bootstrapped_db, workers=0)

    assert summary.rejected == 0 and summary.conflicts == 0
    assert summary.loaded == len(LABELS)
    assert summary.altered == Counter(
        {f"{table}.{column}: cut to {width} characters": 1 for table, column, width in LABELS}
    )
    assert "altered to fit" in summary.render()
    with psycopg.connect(bootstrapped_db) as conn:
        for (table, column), (original, width, stamp) in expected.items():
            value, originals = _row(conn, table, column, stamp)
            digest = hashlib.sha256(original.encode()).hexdigest()[:8]
            assert value == cut_to_fit(original, width), (table, column)
            assert len(value) == width and value.endswith(CUT_MARK + digest), (table, column)
            assert originals == {column: original}, (table, column)


def test_two_long_ids_with_the_same_start_stay_two_rows(bootstrapped_db):
    prefix = "exec-" + "7" * 300
    lines = [
        json.dumps(
            {
                **REQUIRED["tool_usage_logs"],
                "table": "tool_usage_logs",
                "execution_id": prefix + suffix,
                "timestamp": _stamp(0),
            }
        )
        for suffix in ("-a", "-b")
    ]
    summary = load_text("\n".join(lines), url=bootstrapped_db, workers=0)
    assert (summary.loaded, summary.duplicates, summary.conflicts) == (2, 0, 0)
    with psycopg.connect(bootstrapped_db) as conn:
        ids = conn.execute(
            "select execution_id, original_values ->> 'execution_id' from tool_usage_logs"
            " order by 2"
        ).fetchall()
    assert [original for _, original in ids] == [prefix + "-a", prefix + "-b"]
    assert ids[0][0] != ids[1][0] and all(len(cut) == 255 for cut, _ in ids)


#: What real producers send, each within the standard the column now follows: stored as sent.
PRODUCERS = {
    ("tool_usage_logs", "tool_name"): "search_" + "q" * 121,  # MCP: up to 128 characters
    ("tool_usage_logs", "bcp_name"): "io.github.example-org/" + "crm-connector-" * 16,
    ("tool_usage_logs", "tool_version"): "1.4.2-17-g3f2a9c1-dirty",
    ("tool_usage_logs", "error_code"): (
        "org.springframework.web.client.HttpClientErrorException$UnprocessableEntity"
    ),
    ("mcp_request_logs", "method"): "UPDATEREDIRECTREF",  # IANA's longest HTTP method
    ("mcp_request_logs", "client_version"): "2.0.0-rc.1+build.20261130." + "3f2a9c1e" * 28,
    ("mcp_request_logs", "error_type"): "botocore.errorfactory.ProvisionedThroughputExceeded"
    + "Exception",
    ("error_logs", "service_version"): "1.0.0-alpha.1+" + "b" * 242,  # node-semver: 256
    ("error_logs", "environment"): "staging-eu-west-1-canary-blue",
    ("error_logs", "deployment_id"): "mcp-crm-" + "5d8f9c7b6-" * 24 + "x2k9p",
    ("error_logs", "error_code"): "-32603",
    ("performance_metrics", "metric_name"): "mcp.server.operation." + "duration_" * 26,
    ("performance_metrics", "unit"): "{request}/" + "s" * 53,  # OTel: up to 63 characters
    ("performance_metrics", "service"): "checkout-" * 28,
}


def test_what_producers_send_fits_as_sent(bootstrapped_db):
    widths = {(t, c.name): c.max_length for t, cols in TABLES.items() for c in cols}
    lines = []
    for i, ((table, column), value) in enumerate(PRODUCERS.items()):
        assert len(value) <= widths[(table, column)], (table, column, len(value))
        event = {**REQUIRED[table], column: value, "timestamp": _stamp(i), "table": table}
        lines.append(json.dumps(event))
    summary = load_text("\n".join(lines), url=bootstrapped_db, workers=0)
    assert (summary.loaded, summary.rejected, summary.altered) == (len(PRODUCERS), 0, Counter())
    with psycopg.connect(bootstrapped_db) as conn:
        for i, ((table, column), value) in enumerate(PRODUCERS.items()):
            assert _row(conn, table, column, _stamp(i)) == (value, None), (table, column)


def test_the_loader_workers_count_what_they_cut(bootstrapped_db):
    lines = [
        json.dumps(
            {
                **REQUIRED["performance_metrics"],
                "table": "performance_metrics",
                "unit": "u" * 80,
                "metric_name": f"m{i}",
                "timestamp": _stamp(i),
            }
        )
        for i in range(30)
    ]
    summary = load_text("\n".join(lines), url=bootstrapped_db, workers=1, batch_rows=7)
    assert summary.loaded == 30
    assert summary.altered == Counter({"performance_metrics.unit: cut to 63 characters": 30})


def test_the_collector_stores_long_labels_and_counts_them(bootstrapped_db, tmp_path):
    bcp = f"long-{uuid.uuid4().hex[:6]}"
    name = "tool_" + "n" * 200
    with Collector(bootstrapped_db, spool_dir=tmp_path) as c:
        c.record_tool_call(
            bcp_name=bcp,
            tool_name=name,
            operation="o",
            success=True,
            duration_ms=3,
            tool_version="1.4.2-17-g3f2a9c1-dirty",
            error_code="E" * 300,
        )
        assert c.flush(10)
        stats = c.stats
    assert stats["written"] == 1 and stats["rejected"] == 0
    assert stats["altered"] == {
        "tool_usage_logs.tool_name: cut to 128 characters": 1,
        "tool_usage_logs.error_code: cut to 255 characters": 1,
    }
    with psycopg.connect(bootstrapped_db) as conn:
        tool, version, originals = conn.execute(
            "select tool_name, tool_version, original_values from tool_usage_logs"
            " where bcp_name = %s",
            (bcp,),
        ).fetchone()
    assert tool == cut_to_fit(name, 128) and version == "1.4.2-17-g3f2a9c1-dirty"
    assert originals == {"tool_name": name, "error_code": "E" * 300}


def test_a_huge_original_is_kept_as_a_marker():
    huge = "h" * (MAX_ORIGINAL_CHARS + 1)
    altered: Counter[str] = Counter()
    row = prepare(
        "tool_usage_logs", {**REQUIRED["tool_usage_logs"], "operation": huge}, altered=altered
    )
    kept = json.loads(row["original_values"])["operation"]
    assert kept["_truncated"] is True
    assert kept["sha256"] == hashlib.sha256(huge.encode()).hexdigest()
    assert kept["original_size_bytes"] == len(huge)
    assert altered == Counter({"tool_usage_logs.operation: cut to 100 characters": 1})


def test_nul_characters_in_a_label_are_replaced_and_counted():
    altered: Counter[str] = Counter()
    row = prepare(
        "tool_usage_logs", {**REQUIRED["tool_usage_logs"], "tool_name": "a\x00b"}, altered=altered
    )
    assert row["tool_name"] == "a\ufffdb" and row["original_values"] is None
    assert altered == Counter({"tool_usage_logs.tool_name: NUL characters replaced": 1})


@given(st.text(max_size=600), st.integers(min_value=10, max_value=300))
def test_cut_to_fit_keeps_the_start_and_fits(value, limit):
    cut = cut_to_fit(value, limit)
    if len(value) <= limit:
        assert cut == value
    else:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        assert len(cut) == limit
        assert cut == value[: limit - 9] + CUT_MARK + digest


@pytest.mark.parametrize(("table", "column", "width"), LABELS)
def test_prepare_never_rejects_a_label_for_its_length(table, column, width):
    row = prepare(table, {**REQUIRED[table], column: "z" * (width * 3)})
    assert len(row[column]) == width
    assert json.loads(row["original_values"]) == {column: "z" * (width * 3)}

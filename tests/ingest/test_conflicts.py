"""Deduplication keys cover every identity column (bootstrap_sql/061): rows from different
services, environments or deployments are different rows; a row whose key is taken by a row
with other values is a conflict, counted and kept in the rejects, never a silent duplicate."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.cli import main
from mcp_analytics.collector import Collector
from mcp_analytics.ingest.loader import load, load_text
from mcp_analytics.ingest.writer import UNIQUE_KEYS
from tests.helpers.db import scalar

from .test_ingest_role import ingest_url  # noqa: F401 - a fixture

CASES = Path(__file__).parent / "cases"
TS = "2026-11-03T12:00:00Z"

#: The columns that say which event a row is, per table: the dedup key must cover them all.
IDENTITY = {
    "tool_usage_logs": ("execution_id", "timestamp"),
    "mcp_request_logs": ("request_id", "timestamp"),
    "performance_metrics": (
        "metric_name",
        "aggregation_period",
        "timestamp",
        "labels",
        "service",
        "environment",
    ),
    "error_logs": (
        "timestamp",
        "level",
        "message",
        "request_id",
        "execution_id",
        "session_id",
        "environment",
        "service_version",
        "deployment_id",
    ),
}


def test_every_dedup_key_covers_every_identity_column(module_db):
    with psycopg.connect(module_db) as conn:
        for table, index in UNIQUE_KEYS.items():
            definition = conn.execute(
                "select pg_get_indexdef(%s::regclass)", (f"public.{index}",)
            ).fetchone()[0]
            assert definition.startswith("CREATE UNIQUE INDEX"), definition
            for column in IDENTITY[table]:
                assert column in definition, (table, column, definition)


def test_metric_samples_from_three_services_are_three_rows(bootstrapped_db, tmp_path):
    case = CASES / "metric-samples-from-three-services.ndjson"
    first = load([case], url=bootstrapped_db, rejects_path=tmp_path / "r1.jsonl")
    assert (first.loaded, first.duplicates, first.conflicts, first.rejected) == (4, 0, 0, 0)
    rows = scalar(
        bootstrapped_db,
        "select count(*) from performance_metrics where \"timestamp\" = '2026-11-03T12:00:00Z'",
    )
    assert rows == 3
    # loaded again: every line is a duplicate, none a conflict
    again = load([case], url=bootstrapped_db, rejects_path=tmp_path / "r2.jsonl")
    assert (again.loaded, again.duplicates, again.conflicts) == (0, 4, 0)


def _event(table: str, **kw) -> dict:
    base = {
        "tool_usage_logs": {
            "execution_id": "exec-1",
            "bcp_name": "crm",
            "tool_name": "search",
            "operation": "tools/call",
            "success": True,
            "duration_ms": 40,
        },
        "mcp_request_logs": {
            "request_id": "req-1",
            "method": "POST",
            "path": "/mcp",
            "response_status_code": 200,
            "duration_ms": 5,
            "success": True,
        },
        "error_logs": {"level": "error", "message": "upstream timed out"},
        "performance_metrics": {
            "metric_name": "tool_latency_ms",
            "metric_value": 40,
            "aggregation_period": "1m",
            "labels": {"tool": "search"},
        },
    }[table]
    return {"table": table, **base, "timestamp": TS, **kw}


#: Per table: a second event with the first's key and other values, and what differs.
CONFLICTS = {
    "tool_usage_logs": ({"bcp_name": "files", "duration_ms": 900}, "bcp_name, duration_ms"),
    "mcp_request_logs": (
        {"response_status_code": 500, "success": False},
        "response_status_code, success",
    ),
    "error_logs": ({"stack_trace": "Traceback ..."}, "stack_trace"),
    "performance_metrics": ({"metric_value": 900, "unit": "ms"}, "metric_value, unit"),
}


@pytest.mark.parametrize("table", sorted(CONFLICTS))
def test_a_conflict_is_reported_and_kept_not_dropped(bootstrapped_db, tmp_path, table):
    changes, differing = CONFLICTS[table]
    first = load_text(json.dumps(_event(table)), url=bootstrapped_db, workers=0)
    assert first.loaded == 1
    rejects = tmp_path / "rejects.jsonl"
    second = load_text(
        "\n".join([json.dumps(_event(table)), json.dumps(_event(table, **changes))]),
        url=bootstrapped_db,
        workers=0,
        rejects_path=rejects,
    )
    assert (second.loaded, second.duplicates, second.conflicts) == (0, 1, 1)
    assert f"{table}: loaded 0, duplicates 1, rejected 0, conflicts 1" in second.render()
    [kept] = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert kept["line"] == 2 and kept["table"] == table
    assert kept["reason"].startswith(f"conflict: a stored row of {table} has the same")
    assert f"other values ({differing})" in kept["reason"]
    for name, value in changes.items():
        assert json.loads(kept["raw"])[name] == value
    stored = scalar(
        bootstrapped_db,
        "select count(*) from ingest_rejects where reason like 'conflict:%%' and line_number = 2"
        " and target_table = %s",
        (table,),
    )
    assert stored == 1
    # the first row is still the one stored
    assert scalar(bootstrapped_db, f"select count(*) from {table}") == 1


def test_a_conflict_inside_one_batch(bootstrapped_db, tmp_path):
    text = "\n".join(
        json.dumps(_event("performance_metrics", metric_value=v)) for v in (1, 1, 2, 3)
    )
    summary = load_text(text, url=bootstrapped_db, workers=0, rejects_path=tmp_path / "r.jsonl")
    assert (summary.loaded, summary.duplicates, summary.conflicts) == (1, 1, 2)
    reasons = [json.loads(x)["reason"] for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(reasons) == 2 and all("(metric_value)" in r for r in reasons)


def test_sources_are_identity_not_conflicts(bootstrapped_db):
    lines = [
        _event("error_logs", environment="production"),
        _event("error_logs", environment="staging"),
        _event("error_logs", environment="staging", service_version="2.0.0"),
        _event("error_logs", environment="staging", deployment_id="canary"),
        _event("performance_metrics", service="crm-mcp"),
        _event("performance_metrics", service="files-mcp"),
        _event("performance_metrics", service="files-mcp", environment="staging"),
        _event("performance_metrics", service="files-mcp", labels={"tool": "fetch"}),
    ]
    summary = load_text("\n".join(map(json.dumps, lines)), url=bootstrapped_db, workers=0)
    assert (summary.loaded, summary.duplicates, summary.conflicts) == (8, 0, 0)


def test_the_cli_exits_1_on_a_conflict(bootstrapped_db, tmp_path, cli_env, capsys):
    cli_env(bootstrapped_db)
    path = tmp_path / "in.ndjson"
    path.write_text(json.dumps(_event("tool_usage_logs")) + "\n")
    assert main(["ingest", "-q", str(path), "--workers", "0"]) == 0
    path.write_text(json.dumps(_event("tool_usage_logs", success=False)) + "\n")
    assert main(["ingest", "-q", str(path), "--workers", "0"]) == 1
    assert "conflicts 1" in capsys.readouterr().out


def test_conflicts_as_the_ingest_role(module_db, ingest_url, tmp_path):  # noqa: F811
    key = f"exec-{uuid.uuid4().hex[:8]}"
    event = _event("tool_usage_logs", execution_id=key)
    load_text(json.dumps(event), url=ingest_url, workers=0)
    summary = load_text(
        "\n".join([json.dumps(event), json.dumps({**event, "duration_ms": 41})]),
        url=ingest_url,
        workers=1,
        rejects_path=tmp_path / "r.jsonl",
    )
    assert (summary.loaded, summary.duplicates, summary.conflicts) == (0, 1, 1)
    # the function answers for the caller's own batch only: it names no stored value
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable, match="no staging table"):
            conn.execute("select * from ingest_staged_conflicts('tool_usage_logs')")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select * from ingest_staged_conflicts('users')")


def test_the_collector_counts_conflicts(bootstrapped_db, tmp_path):
    with Collector(bootstrapped_db, spool_dir=tmp_path) as c:
        for duration in (10, 10, 11):
            c.record_metric(
                metric_name="m",
                metric_value=duration,
                aggregation_period="1m",
                timestamp=TS,
                service="crm",
            )
            assert c.flush(10)
        stats = c.stats
    assert (stats["written"], stats["duplicates"], stats["conflicts"]) == (1, 1, 1)
    reasons = scalar(
        bootstrapped_db,
        "select count(*) from ingest_rejects where source = 'collector' and reason like %s",
        ("conflict: %(metric_value)%",),
    )
    assert reasons == 1

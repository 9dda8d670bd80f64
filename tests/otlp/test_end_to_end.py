"""A real MCP server (official SDK v2) traced by the SDK's own OpenTelemetry middleware and
exported with the OTLP/HTTP protobuf exporter to a real receiver; a real client calls a tool
that works, one that answers isError, one that raises, an unknown tool, a prompt, a resource
and tools/list. The rows, then the marts (dbt build), are checked."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt
from tests.helpers.collector import wait_for
from tests.helpers.db import scalar
from tests.helpers.otlp_receiver import running
from tests.helpers.processes import run_json

ROOT = Path(__file__).resolve().parents[2]


def emit(receiver_url: str, service: str, mode: str) -> dict[str, object]:
    return run_json(
        [sys.executable, "-m", "tests.otlp.emitters.sdk_v2", receiver_url, service, mode], cwd=ROOT
    )


def operations(db: str, service: str) -> dict[tuple[str, str], dict]:
    with psycopg.connect(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "select operation, tool_name, success, error_code, request_id, session_id,"
            " protocol_version, tool_version, duration_ms, trace_id, span_id, execution_id"
            " from tool_usage_logs where bcp_name = %s",
            (service,),
        )
        names = [c.name for c in cur.description]
        out: dict[tuple[str, str], dict] = {}
        for row in cur.fetchall():
            record = dict(zip(names, row, strict=True))
            out.setdefault((record["operation"], record["tool_name"]), record)
        return out


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sdk_v2_server_spans_become_operations(bootstrapped_db, tmp_path, mode):
    service = f"weather-{mode}"
    with running(bootstrapped_db, tmp_path / "spool") as r:
        seen = emit(r.url, service, mode)
        assert wait_for(lambda: r.sink.queued_rows == 0)
    # The client saw what an uninstrumented server answers.
    assert seen["add"] is False and seen["refuse"] is True and seen["explode"] is True
    assert seen["prompt"] == 1 and seen["resource"] == 1 and seen["tools"] == 3
    ops = operations(bootstrapped_db, service)
    add = ops[("tools/call", "add")]
    assert add["success"] is True and add["error_code"] is None
    assert add["tool_version"] == "2.0.1" and add["protocol_version"]
    assert add["execution_id"] == f"{add['trace_id']}-{add['span_id']}"
    assert add["request_id"] is not None
    for failing in ("refuse", "explode", "no_such_tool"):
        row = ops[("tools/call", failing)]
        assert row["success"] is False and row["error_code"], failing
    assert ops[("tools/call", "refuse")]["error_code"] == "tool_error"
    assert ops[("prompts/get", "greet")]["success"] is True
    assert ("resources/read", "resources/read") in ops  # the SDK sends no mcp.resource.uri
    assert ("tools/list", "tools/list") in ops
    # The SDK's CLIENT spans (the in-process client) are not counted as operations.
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        client_like = scalar(
            conn, "select count(*) from tool_usage_logs where tool_name like 'MCP send%%'"
        )
        # On stateless traffic no session id is invented.
        sessions = scalar(conn, "select count(*) from tool_usage_logs where session_id is not null")
    assert client_like == 0 and sessions == 0


@pytest.mark.slow
def test_operations_reach_the_marts(bootstrapped_db, tmp_path):
    service = "weather-marts"
    with running(bootstrapped_db, tmp_path / "spool") as r:
        emit(r.url, service, "legacy")
        assert wait_for(lambda: r.sink.queued_rows == 0)
    proc = run_dbt(
        ["build", "--select", "staging", "marts"],
        url=bootstrapped_db,
        target_path=tmp_path / "target",
        log_path=tmp_path / "logs",
        capture=True,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        summary = {
            (row[0], row[1]): row[2:]
            for row in conn.execute(
                "select tool_name, operation, sum(total_calls)::int, sum(successful_calls)::int,"
                " sum(failed_calls)::int from analytics.hourly_tool_usage_summary"
                " where bcp_name = %s group by 1, 2",
                (service,),
            )
        }
        raw = conn.execute(
            "select count(*) from tool_usage_logs where bcp_name = %s", (service,)
        ).fetchone()[0]
    assert summary[("add", "tools/call")] == (1, 1, 0)
    assert summary[("refuse", "tools/call")] == (1, 0, 1)
    assert summary[("explode", "tools/call")] == (1, 0, 1)
    assert summary[("greet", "prompts/get")] == (1, 1, 0)
    assert sum(v[0] for v in summary.values()) == raw

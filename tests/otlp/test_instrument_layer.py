"""`instrument(server, ...)` as a layer over the SDK's own spans: what it adds reaches the
receiver over OTLP (stateless 2026-07-28 traffic included), and the collector's rows carry the
SDK span's ids and the client's identity."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from tests.helpers.collector import wait_for
from tests.helpers.otlp_receiver import running
from tests.helpers.processes import run_json

ROOT = Path(__file__).resolve().parents[2]


def run_emitter(*args: str) -> dict[str, object]:
    return run_json([sys.executable, "-m", "tests.otlp.emitters.instrumented", *args], cwd=ROOT)


def rows(db: str, service: str) -> dict[str, dict]:
    with psycopg.connect(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "select tool_name, operation, success, error_code, error_class, error_message,"
            " error_stack, parameters,"
            " response_data, client_name, client_version, protocol_version, session_id,"
            " trace_id, span_id, execution_id, user_agent"
            " from tool_usage_logs where bcp_name = %s",
            (service,),
        )
        names = [c.name for c in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_instrumented_spans_over_otlp(bootstrapped_db, tmp_path, mode):
    service = f"instrumented-{mode}"
    with running(bootstrapped_db, tmp_path / "spool") as r:
        seen = run_emitter("otlp", r.url, service, mode)
        assert wait_for(lambda: r.sink.queued_rows == 0)
    assert seen["add"] is False and seen["explode"] is True
    got = rows(bootstrapped_db, service)
    add, explode = got["add"], got["explode"]
    # What the SDK leaves out and the layer adds: the client, arguments, results.
    assert (add["client_name"], add["client_version"]) == ("e2e-client", "4.5.6")
    assert add["parameters"] == {"a": 2, "b": 3}
    assert add["response_data"]["structuredContent"] == {"result": 5}
    # The raising tool's exception is on the span: its stack on the row and in error_logs.
    assert explode["success"] is False
    assert "RuntimeError: the upstream API is down" in explode["error_stack"]
    # The resource read is named by its URI (the SDK's span carries none).
    assert "notes://today" in got and got["notes://today"]["operation"] == "resources/read"
    # No transport session in memory: nothing invented.
    assert all(row["session_id"] is None for row in got.values())
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        (errors,) = conn.execute(
            "select count(*) from error_logs where execution_id = %s"
            " and message = 'the upstream API is down'",
            (explode["execution_id"],),
        ).fetchone()
    assert errors == 1


def test_collector_rows_carry_the_sdk_span(bootstrapped_db, tmp_path):
    service = "instrumented-collector"
    seen = run_emitter("collector", bootstrapped_db, service, "auto", str(tmp_path / "spool"))
    assert seen["refuse"] is True
    got = rows(bootstrapped_db, service)
    add = got["add"]
    assert len(add["trace_id"]) == 32 and len(add["span_id"]) == 16
    assert (add["client_name"], add["client_version"]) == ("e2e-client", "4.5.6")
    assert add["user_agent"] == "e2e-client/4.5.6" and add["protocol_version"]
    assert got["refuse"]["error_code"] == "tool_error"
    assert len({r["trace_id"] for r in got.values()}) == len(got)  # one span each


def test_one_error_class_whatever_the_path(bootstrapped_db, tmp_path, monkeypatch):
    """The same three failures (a raising tool, arguments that fail validation, an isError
    result) through the collector and through the SDK's spans over OTLP: the client saw an
    isError result each time, so each path stores tool_error, with the same message."""
    monkeypatch.setenv("EMIT_CALLS", "errors")
    with running(bootstrapped_db, tmp_path / "spool-otlp") as r:
        over_otlp = run_emitter("otlp", r.url, "classes-otlp", "auto")
        assert wait_for(lambda: r.sink.queued_rows == 0)
    collected = run_emitter(
        "collector", bootstrapped_db, "classes-collector", "auto", str(tmp_path / "spool")
    )
    assert over_otlp == collected == {"explode": True, "add": True, "refuse": True}
    otlp, collector = (
        rows(bootstrapped_db, "classes-otlp"),
        rows(bootstrapped_db, "classes-collector"),
    )
    otlp.pop("server/discover", None)  # the 2026-07-28 client's discovery call, OTLP only
    assert sorted(otlp) == sorted(collector) == ["add", "explode", "refuse"]
    for tool in ("explode", "add", "refuse"):
        got = [
            (r[tool]["success"], r[tool]["error_code"], r[tool]["error_class"])
            for r in (otlp, collector)
        ]
        assert got == [(False, "tool_error", "tool_error")] * 2, tool
    # The raised exception, which the client did not see, is kept on both paths.
    for r in (otlp, collector):
        assert r["explode"]["error_message"] == "the upstream API is down"
        assert "RuntimeError: the upstream API is down" in r["explode"]["error_stack"]
        assert "ValidationError" in r["add"]["error_stack"]
        assert "validation error" in r["add"]["error_message"]
    assert otlp["add"]["error_message"] == collector["add"]["error_message"]
    # The exception's type is kept on both paths in error_logs, linked to the call.
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        for r in (otlp, collector):
            logged = conn.execute(
                "select error_code, message, category from error_logs where execution_id = %s",
                (r["explode"]["execution_id"],),
            ).fetchall()
            assert logged == [("RuntimeError", "the upstream API is down", "exception")]
    # An isError result's own text, from the captured result on the OTLP path.
    assert otlp["refuse"]["error_message"] == collector["refuse"]["error_message"]
    assert collector["refuse"]["error_message"] == "refused: quota"

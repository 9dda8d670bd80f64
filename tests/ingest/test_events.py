"""Event schema: validation, coercion, computed columns, capping (no database needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from mcp_analytics.ingest.events import EventError, canonical_json, prepare

TOOL = {
    "execution_id": "e-1",
    "bcp_name": "bcp",
    "tool_name": "search",
    "operation": "query",
    "success": True,
    "duration_ms": 12,
    "timestamp": "2026-01-02T03:04:05Z",
}


def tool(**kw):
    return {**TOOL, **kw}


def test_hash_is_sha256_of_canonical_redacted_json():
    params = {"b": [1, 2], "a": "é", "password": "hunter2"}
    row = prepare("tool_usage_logs", tool(parameters=params))
    expected_text = '{"a":"é","b":[1,2],"password":"[REDACTED]"}'
    assert row["parameters"] == expected_text
    assert row["parameters_hash"] == hashlib.sha256(expected_text.encode()).hexdigest()
    # Key order does not change the hash.
    other = prepare("tool_usage_logs", tool(parameters={"password": "x", "b": [1, 2], "a": "é"}))
    assert other["parameters_hash"] == row["parameters_hash"]


def test_response_size_and_cap_keep_valid_json():
    big = {"items": ["x" * 100] * 50}
    size = len(canonical_json(big).encode())
    row = prepare("tool_usage_logs", tool(response_data=big), max_response_bytes=1000)
    assert row["response_size_bytes"] == size
    marker = json.loads(row["response_data"])
    assert marker["_truncated"] is True and marker["original_size_bytes"] == size
    small = prepare("tool_usage_logs", tool(response_data={"ok": 1}), max_response_bytes=1000)
    assert json.loads(small["response_data"]) == {"ok": 1}
    assert small["response_size_bytes"] == len(b'{"ok":1}')


def test_defaults_and_timestamps():
    row = prepare("tool_usage_logs", {k: v for k, v in TOOL.items() if k != "timestamp"})
    assert row["timestamp"].tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - row["timestamp"]).total_seconds()) < 5
    assert row["cache_hit"] is False
    naive = prepare("tool_usage_logs", tool(timestamp="2026-01-02T03:04:05"))
    assert naive["timestamp"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    err = prepare("error_logs", {"level": "WARNING", "message": "m", "timestamp": "2026-01-02"})
    assert err["level"] == "warn"
    assert err["context"] == "{}" and err["environment"] == "production"
    assert err["first_occurrence"] == err["timestamp"] == err["last_occurrence"]
    metric = prepare(
        "performance_metrics",
        {"metric_name": "m", "metric_value": 1.23456, "aggregation_period": "1m"},
    )
    assert metric["metric_value"] == "1.2346" and metric["labels"] == "{}"
    with pytest.raises(EventError, match="timestamp: missing"):
        prepare(
            "tool_usage_logs",
            {k: v for k, v in TOOL.items() if k != "timestamp"},
            require_timestamp=True,
        )


@pytest.mark.parametrize(
    ("table", "event", "message"),
    [
        ("tool_usage_logs", tool(bcp_name=None), "bcp_name: missing required field"),
        ("tool_usage_logs", tool(success="yes"), "success: expected true or false"),
        ("tool_usage_logs", tool(duration_ms="12"), "duration_ms: expected an integer"),
        ("tool_usage_logs", tool(duration_ms=-1), "duration_ms: -1 is out of range"),
        ("tool_usage_logs", tool(duration_ms=2**31), "duration_ms: .* out of range"),
        (
            "tool_usage_logs",
            tool(timestamp="0001-01-01T00:00:00+01:00"),
            "timestamp: .* more than 3650 days before receipt",
        ),
        ("tool_usage_logs", tool(ip_address="999.1.1.1"), "ip_address: not an IP address"),
        ("tool_usage_logs", tool(timestamp="yesterday"), "timestamp: not an ISO-8601"),
        ("tool_usage_logs", tool(timestamp=1700000000), "timestamp: expected an ISO-8601"),
        ("tool_usage_logs", tool(cpu_usage_percent=1000), "cpu_usage_percent: .* numeric\\(5,2\\)"),
        ("tool_usage_logs", tool(colour="red"), "colour: unknown field"),
        ("tool_usage_logs", tool(bcp_name="  "), "bcp_name: must not be empty"),
        ("mcp_request_logs", {"request_id": "r"}, "missing required field"),
        ("error_logs", {"level": "loud", "message": "m"}, "level: must be one of"),
        ("error_logs", {"level": "error", "message": "m", "severity": 9}, "severity: 9 is out"),
        (
            "performance_metrics",
            {"metric_name": "m", "metric_value": 1, "aggregation_period": "2m"},
            "aggregation_period: must be one of",
        ),
        (
            "performance_metrics",
            {"metric_name": "m", "metric_value": float("nan"), "aggregation_period": "1m"},
            "metric_value: expected a finite number",
        ),
        ("nope", {}, "table: unknown table"),
    ],
)
def test_bad_events_name_the_field(table, event, message):
    with pytest.raises(EventError, match=message):
        prepare(table, event)


def test_json_safety():
    row = prepare(
        "tool_usage_logs",
        tool(parameters={1: float("nan"), "when": dt.datetime(2026, 1, 1), "nul": "a\x00b"}),
    )
    assert json.loads(row["parameters"]) == {
        "1": "NaN",
        "nul": "a\ufffdb",
        "when": "2026-01-01T00:00:00",
    }
    assert prepare("tool_usage_logs", tool(duration_ms=12.6))["duration_ms"] == 13

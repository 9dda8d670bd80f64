"""The receiver keeps the configured event-time window and counts what it changed, as the
loader and the collector do (docs/ingest.md "Event times")."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from mcp_analytics.commands.otlp import _ingest_settings
from mcp_analytics.ingest.events import TimeWindow
from mcp_analytics.otlp.receiver import ReceiverConfig
from tests.helpers.db import scalar
from tests.helpers.otlp_receiver import running

from . import otlp_data as d

PB = {"Content-Type": "application/x-protobuf"}


def test_the_configured_window_refuses_old_spans_and_counts_those_ahead(bootstrapped_db, tmp_path):
    now_ns = time.time_ns()
    window = TimeWindow(max_age=timedelta(days=1), warn_ahead=timedelta(minutes=5))
    old = d.mcp_span(start=now_ns - 3 * 86_400 * 10**9)
    ahead = d.mcp_span(start=now_ns + 20 * 60 * 10**9)
    long_tool = d.mcp_span(target="t" * 400, start=now_ns)
    with running(bootstrapped_db, tmp_path / "spool", ReceiverConfig(window=window)) as r:
        body = d.traces(old, ahead, long_tool).SerializeToString()
        answer = requests.post(r.url + "/v1/traces", data=body, headers=PB, timeout=30)
        assert answer.status_code == 200
        partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
        assert partial.rejected_spans == 1
        assert "timestamp" in partial.error_message
        health = requests.get(r.url + "/healthz", timeout=10).json()
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == 2
    assert scalar(bootstrapped_db, "select count(*) from ingest_rejects") == 1
    assert health["ahead"] == {"tool_usage_logs.timestamp": 1}
    assert [k for k in health["altered"] if k.startswith("tool_usage_logs.tool_name")]


def test_otlp_serve_reads_the_window_and_redaction_settings(bootstrapped_db):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "update system_configuration set config_value = %s::jsonb"
            " where config_key = 'analytics.event_time_window'",
            ('{"max_age_days": 7}',),
        )
        if not conn.execute(
            "select 1 from system_configuration where config_key = 'analytics.event_time_window'"
        ).fetchone():
            conn.execute(
                "insert into system_configuration (config_key, config_value)"
                " values ('analytics.event_time_window', '{\"max_age_days\": 7}'::jsonb)"
            )
    redaction, window = _ingest_settings(bootstrapped_db)
    assert window == {"max_age_days": 7}
    assert TimeWindow.from_config(window).max_age == timedelta(days=7)
    assert redaction is None or isinstance(redaction, dict)


def test_a_window_setting_that_does_not_parse_keeps_the_default(bootstrapped_db, caplog):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "delete from system_configuration where config_key = 'analytics.event_time_window'"
        )
        conn.execute(
            "insert into system_configuration (config_key, config_value)"
            " values ('analytics.event_time_window', '{\"max_age_days\": -1}'::jsonb)"
        )
    _, window = _ingest_settings(bootstrapped_db)
    assert window is None
    assert "max_age_days must be a positive number" in caplog.text

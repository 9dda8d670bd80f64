"""Event times come from clients: the database records when each row arrived (`received_at`,
bootstrap_sql/062); times outside a configurable window around receipt are rejected with their
reason; times ahead of receipt are counted and reported."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import EventError, TimeWindow, prepare
from mcp_analytics.ingest.loader import load, load_text
from tests.helpers.collector import record_call
from tests.helpers.db import scalar, set_config

from .test_ingest_role import ingest_url  # noqa: F401 - a fixture

CASES = Path(__file__).parent / "cases"
UTC = dt.UTC


def _tool(stamp: str, **kw) -> dict:
    return {
        "table": "tool_usage_logs",
        "execution_id": f"x-{uuid.uuid4().hex[:10]}",
        "bcp_name": "b",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 1,
        "timestamp": stamp,
        **kw,
    }


def _ago(**delta: float) -> str:
    return (dt.datetime.now(UTC) - dt.timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("timestamp-1-bc-utc.ndjson", "is more than 3650 days before receipt"),
        ("timestamp-year-10000-utc.ndjson", "is more than 1 day ahead of receipt"),
    ],
)
def test_times_outside_the_window_are_rejected_with_a_reason(
    bootstrapped_db, tmp_path, case, reason
):
    source = tmp_path / case
    good = json.dumps(_tool(_ago(minutes=5)))
    source.write_text((CASES / case).read_text().rstrip("\n") + "\n" + good + "\n")
    rejects = tmp_path / "rejects.jsonl"
    summary = load([source], url=bootstrapped_db, rejects_path=rejects)
    assert (summary.loaded, summary.rejected) == (1, 1)
    [kept] = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert kept["line"] == 1 and reason in kept["reason"]
    assert "analytics.event_time_window" in kept["reason"]
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs_default") == 0
    stored = scalar(
        bootstrapped_db,
        "select count(*) from ingest_rejects where reason like %s",
        (f"timestamp: %{reason}%",),
    )
    assert stored == 1


def test_received_at_is_set_by_the_database(bootstrapped_db):
    before = dt.datetime.now(UTC)
    summary = load_text(
        "\n".join(
            [
                json.dumps(_tool(_ago(days=3))),
                json.dumps(
                    {
                        "table": "error_logs",
                        "level": "error",
                        "message": "m",
                        "timestamp": _ago(days=400),
                    }
                ),
            ]
        ),
        url=bootstrapped_db,
        workers=0,
    )
    after = dt.datetime.now(UTC)
    assert summary.loaded == 2
    with psycopg.connect(bootstrapped_db) as conn:
        for table in ("tool_usage_logs", "error_logs"):
            stamp, received = conn.execute(
                f'select "timestamp", received_at from {table}'
            ).fetchone()
            assert before - dt.timedelta(seconds=1) <= received <= after, table
            assert received - stamp > dt.timedelta(days=2), table
        # the column is not part of the event schema: a client cannot set it
    with pytest.raises(EventError, match="received_at: unknown field"):
        event = {k: v for k, v in _tool(_ago(hours=1)).items() if k != "table"}
        prepare("tool_usage_logs", {**event, "received_at": _ago(days=9)})


def test_times_ahead_of_receipt_are_stored_counted_and_reported(bootstrapped_db):
    lines = [json.dumps(_tool(_ago(hours=-2))) for _ in range(3)] + [json.dumps(_tool(_ago()))]
    summary = load_text("\n".join(lines), url=bootstrapped_db, workers=0)
    assert (summary.loaded, summary.rejected) == (4, 0)
    assert dict(summary.ahead) == {"tool_usage_logs.timestamp": 3}
    assert "warning: 3 event time(s) more than 300 s ahead of receipt" in summary.render()


def test_every_time_of_an_event_is_checked():
    error = {"level": "error", "message": "m", "timestamp": _ago(hours=1)}
    for column in ("resolved_at", "first_occurrence", "last_occurrence"):
        with pytest.raises(EventError, match=f"^{column}: .* before receipt"):
            prepare("error_logs", {**error, column: "0001-01-01T00:00:00+01:00"})
    metric = {"metric_name": "m", "metric_value": 1, "aggregation_period": "1m"}
    with pytest.raises(EventError, match="^start_timestamp: .* ahead of receipt"):
        prepare("performance_metrics", {**metric, "start_timestamp": "9999-12-31T23:59:59Z"})


def test_the_window_is_configured_in_the_database(module_db, ingest_url, tmp_path):  # noqa: F811
    window = {"max_age_days": 1, "max_ahead_seconds": 60, "warn_ahead_seconds": 1}
    set_config(module_db, "analytics.event_time_window", window)
    try:
        lines = [_tool(_ago(days=2)), _tool(_ago(minutes=-5)), _tool(_ago(seconds=-30))]
        summary = load_text(
            "\n".join(map(json.dumps, lines)),
            url=ingest_url,
            workers=0,
            rejects_path=tmp_path / "r.jsonl",
        )
        assert (summary.loaded, summary.rejected) == (1, 2)
        reasons = [
            json.loads(x)["reason"] for x in (tmp_path / "r.jsonl").read_text().split("\n")[:-1]
        ]
        assert "more than 1 day before receipt" in reasons[0]
        assert "more than 60 s ahead of receipt" in reasons[1]
        assert dict(summary.ahead) == {"tool_usage_logs.timestamp": 1}

        with Collector(ingest_url, spool_dir=tmp_path / "spool") as c:
            assert c.flush(10)  # settings read
            for delta in (dict(days=2), dict(seconds=-30)):
                record_call(c, "win", timestamp=_ago(**delta))
            assert c.flush(10)
            stats = c.stats
        assert stats["rejected"] == 1 and stats["written"] == 1
        assert stats["ahead_of_receipt"] == {"tool_usage_logs.timestamp": 1}
    finally:
        window = {"max_age_days": 3650, "max_ahead_seconds": 86400, "warn_ahead_seconds": 300}
        set_config(module_db, "analytics.event_time_window", window)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "expected an object"),
        ({"max_age_days": 0}, "max_age_days must be a positive number"),
        ({"max_ahead_seconds": "1d"}, "max_ahead_seconds must be a positive number"),
        ({"max_age_days": True}, "max_age_days must be a positive number"),
        ({"warn_ahead": 5}, "unknown key"),
    ],
)
def test_a_bad_window_setting_is_a_clear_error(value, message):
    with pytest.raises(ValueError, match=message):
        TimeWindow.from_config(value)


def test_a_bad_window_setting_keeps_the_default(bootstrapped_db, caplog):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "update system_configuration set config_value = '{\"max_age_days\": -1}'"
            " where config_key = 'analytics.event_time_window'"
        )
    summary = load_text(json.dumps(_tool(_ago(days=30))), url=bootstrapped_db, workers=0)
    assert summary.loaded == 1
    assert "max_age_days must be a positive number" in caplog.text

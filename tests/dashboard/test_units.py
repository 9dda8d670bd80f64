"""The dashboard's pieces on their own: histogram percentiles against the warehouse's SQL
functions, windows, and the page a fresh install shows before any build."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from starlette.testclient import TestClient

from mcp_analytics.dashboard import DashboardConfig, create_app
from mcp_analytics.dashboard.histograms import bucket_value, merge, quantiles
from mcp_analytics.dashboard.windows import WindowError, parse_window
from tests.dashboard.helpers import USERS, sign_in


def test_percentiles_are_the_sql_functions_bit_for_bit(bootstrapped_db: str) -> None:
    rng = random.Random(7)
    with psycopg.connect(bootstrapped_db) as conn:
        # every bucket a bigint can reach, both signs
        indexes = list(range(-400, 1200)) + [rng.randrange(-3700, 3700) for _ in range(300)]
        sql_values = conn.execute(
            "select mart_hist_bucket_value(i) from unnest(%s::int[]) as i", (indexes,)
        ).fetchall()
        assert [v for (v,) in sql_values] == [bucket_value(i) for i in indexes]
        for _ in range(150):
            parts = [
                {
                    rng.randrange(-50, 1500): rng.randrange(1, 40)
                    for _ in range(rng.randrange(1, 30))
                }
                for _ in range(3)
            ]
            qs = [0.0, 0.5, 0.95, 0.99, 1.0, rng.random()]
            merged_sql = conn.execute(
                "select mart_hist_quantiles(mart_hist_merge(h), %s) from unnest(%s::jsonb[]) as h",
                (qs, [json.dumps(p) for p in parts]),
            ).fetchone()[0]
            assert quantiles(merge(parts), qs) == merged_sql
    assert quantiles({}, [0.5]) == [None]
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantiles({1: 1}, [1.5])


NOW = datetime(2026, 11, 30, 17, 42, tzinfo=UTC)


def test_windows() -> None:
    hour = parse_window({"window": "24h"}, NOW)
    assert hour.end == datetime(2026, 11, 30, 18, tzinfo=UTC)
    assert hour.span == timedelta(hours=24) and hour.grain == "hour"
    assert len(hour.buckets()) == 24
    assert hour.previous.end == hour.start and hour.previous.span == hour.span
    month = parse_window({"window": "30d"}, NOW)
    assert month.end == datetime(2026, 12, 1, tzinfo=UTC) and month.grain == "day"
    assert len(month.buckets()) == 30
    custom = parse_window({"window": "custom", "from": "2026-11-01", "to": "2026-11-03"}, NOW)
    assert (custom.start, custom.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 4, tzinfo=UTC),
    )
    assert custom.grain == "hour" and custom.params()["to"] == "2026-11-03"
    long = parse_window({"window": "custom", "from": "2026-01-01", "to": "2026-06-30"}, NOW)
    assert long.grain == "day"
    assert parse_window({}, NOW).key == "24h"
    for bad, message in (
        ({"window": "5y"}, "unknown window"),
        ({"window": "custom", "from": "yesterday", "to": "2026-11-01"}, "YYYY-MM-DD"),
        ({"window": "custom", "from": "2026-11-02", "to": "2026-11-01"}, "before"),
        ({"window": "custom", "from": "2020-01-01", "to": "2026-11-01"}, "at most"),
    ):
        with pytest.raises(WindowError, match=message):
            parse_window(bad, NOW)


def test_a_fresh_install_says_what_to_do(bootstrapped_db: str) -> None:
    from mcp_analytics import auth

    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        auth.create_user(conn, "reader", USERS["reader"][0])
    app = create_app(DashboardConfig(admin_url=bootstrapped_db, analyst_url=bootstrapped_db))
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "reader", USERS["reader"][0]).status_code == 303
        for path in ("/", "/tools", "/requests", "/metrics", "/errors"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "not built yet" in page.text and "mcp-analytics build" in page.text, path
        pipeline = client.get("/pipeline").text
        assert pipeline.count("not built yet") == 5
    # a bad window is explained, and the default one shown
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "reader", USERS["reader"][0])
        page = client.get("/?window=5y")
        assert page.status_code == 200 and "unknown window" in page.text

"""The dashboard's pieces on their own: histogram percentiles against the warehouse's SQL
functions, windows, and the page a fresh install shows before any build."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from mcp_analytics.dashboard import DashboardConfig, create_app
from mcp_analytics.dashboard.histograms import (
    Histogram,
    bucket_value,
    merge,
    packed_text,
    quantiles,
)
from mcp_analytics.dashboard.marts import ToolRow
from mcp_analytics.dashboard.ratios import Ratio
from mcp_analytics.dashboard.security import HEADERS
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


def test_sums_added_up_by_the_database_read_as_the_sql_functions_read_them(
    bootstrapped_db: str,
) -> None:
    """What the pages read of a group (packed histograms summed by PostgreSQL and sent as
    packed_text, or jsonb histograms joined by string_agg) is the merged histogram, and its
    quantiles are mart_hist_quantiles' on the packed sum, to the bit; negative buckets (which
    the shortened text cannot carry) are sent whole."""
    rng = random.Random(11)
    query = (
        f"select {packed_text('sum(mart_hist_from_jsonb(h))')}, string_agg(h::text, ' '),"
        " mart_hist_quantiles(sum(mart_hist_from_jsonb(h)), %s)"
        " from unnest(%s::jsonb[]) as h"
    )
    with psycopg.connect(bootstrapped_db) as conn:
        for trial in range(120):
            low = -60 if trial % 4 == 0 else 0
            parts = [
                {
                    rng.randrange(low, 1600): rng.randrange(1, 10**6)
                    for _ in range(rng.randrange(1, 40))
                }
                for _ in range(rng.randrange(1, 6))
            ]
            qs = [0.0, 0.5, 0.95, 0.99, 1.0, rng.random()]
            packed, joined, expected = conn.execute(
                query, (qs, [json.dumps(p) for p in parts])
            ).fetchone()
            assert packed.startswith("n") == (low < 0 and min(min(p) for p in parts) < 0)
            merged = dict(sorted(merge(parts).items()))
            for histogram in (Histogram.parse(packed), Histogram.parse(joined)):
                assert histogram.buckets() == merged
                assert histogram.quantiles(qs) == expected
            added = Histogram()
            for part in parts:
                added.add(Histogram.from_jsonb([json.dumps(part)]))
            assert added == Histogram.parse(packed)
        empty = conn.execute(
            f"select {packed_text('sum(h)')} from (select null::numeric as h) as empty_group"
        )
        assert Histogram.parse(empty.fetchone()[0]).quantiles([0.5]) == [None]
    with pytest.raises(ValueError, match="not a packed histogram"):
        Histogram.parse("12a4")


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


def test_a_ratio_reads_its_two_attributes_and_is_none_without_a_whole() -> None:
    row = ToolRow("b", "t", calls=8, errors=2, prev_calls=0, prev_errors=3)
    assert row.error_rate == 0.25
    assert row.prev_error_rate is None  # no calls in the previous window: no rate
    assert isinstance(ToolRow.error_rate, Ratio)
    assert (ToolRow.error_rate.part, ToolRow.error_rate.whole) == ("errors", "calls")


def test_the_docs_list_the_headers_sent(bootstrapped_db: str) -> None:
    """docs/dashboard.md's block of headers is, name for name and value for value, what a page
    is sent (no security header missing from the doc, none in the doc that is not sent)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dashboard.md").read_text()
    block = re.search(r"\*\*Headers\*\*.*?```text\n(.*?)```", doc, re.S)
    assert block, "no block of headers in docs/dashboard.md"
    documented = dict(
        line.strip().split(": ", 1) for line in block.group(1).splitlines() if line.strip()
    )
    app = create_app(DashboardConfig(admin_url=bootstrapped_db, analyst_url=bootstrapped_db))
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login")
    assert page.status_code == 200
    sent = {name: page.headers.get(name) for name in (*HEADERS, "cache-control")}
    assert {k.lower(): v for k, v in documented.items()} == sent


def test_the_package_leaves_vendor_to_python_m() -> None:
    """`make vendor` runs `python -m mcp_analytics.dashboard.vendor`: the package must not import
    `vendor` itself first, or runpy warns (RuntimeWarning: found in sys.modules)."""
    probe = (
        "import sys, mcp_analytics.dashboard as d;"
        "assert 'mcp_analytics.dashboard.vendor' not in sys.modules;"
        "assert callable(d.create_app) and 'mcp_analytics.dashboard.vendor' in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


#: GET routes that are not pages of the marts, and what each answers before the first build
NOT_PAGES = {"/login": 303, "/healthz": 200, "/favicon.ico": 204}
#: pages that read no mart (the administration pages read the seed's tables only)
NO_MARTS = ("/admin/retention", "/admin/config", "/admin/users")
#: a filter of each page's own, so the filters' chips and links render too
PAGE_QUERY = {
    "/clients": "?window=30d&transport=tcp&client=cursor",
    "/versions": "?window=30d&bcp=bcp_0",
    "/sessions": "?window=30d&definition=transport_id:v1",
    "/inventory": "?status=never_called",
    "/errors": "?q=synthetic",
    "/tools": "?sort=p95.asc",
}


def test_a_fresh_install_says_what_to_do(bootstrapped_db: str) -> None:
    from starlette.routing import Route

    from mcp_analytics import auth

    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        auth.create_user(conn, "root", USERS["root"][0], role=USERS["root"][1])
    app = create_app(DashboardConfig(admin_url=bootstrapped_db, analyst_url=bootstrapped_db))
    # every GET route the app has, so a page added later is covered without editing this list
    paths = [
        r.path.replace("{bcp}", "bcp_0").replace("{tool}", "tool_0")
        for r in app.routes
        if isinstance(r, Route) and "GET" in (r.methods or ())
    ]
    assert {"/", "/clients", "/versions", "/sessions", "/inventory", "/budget"} <= set(paths)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "root", USERS["root"][0]).status_code == 303
        for path in paths:
            for url in {path, path + PAGE_QUERY.get(path, "")}:
                for headers in ({}, {"HX-Request": "true"}):  # the whole page and its region
                    page = client.get(url, headers=headers)
                    if path in NOT_PAGES:
                        assert page.status_code == NOT_PAGES[path], url
                    elif path == "/tools.csv":
                        assert page.status_code == 503, url
                        assert page.text.startswith("The marts are not built yet"), url
                    elif path in NO_MARTS:
                        assert page.status_code == 200, url
                    elif path == "/pipeline":
                        assert page.status_code == 200, url
                        assert page.text.count("not built yet") == 5, url
                    else:
                        assert page.status_code == 200, (url, page.text[-2000:])
                        assert "The marts are not built yet" in page.text, url
                        assert "mcp-analytics build" in page.text, url
    # a bad window is explained, and the default one shown
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "root", USERS["root"][0])
        page = client.get("/?window=5y")
        assert page.status_code == 200 and "unknown window" in page.text

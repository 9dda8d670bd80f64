"""`mcp-analytics metrics serve` as Prometheus sees it: the real command on a free port,
scraped over HTTP, parsed with prometheus_client's OpenMetrics parser, every value equal to
the marts and to a recomputation from the raw rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.metrics import ERROR_CLASSES, SEMCONV_BOUNDS_S
from tests.helpers.dbt_project import DbtWarehouse
from tests.helpers.web import free_port

CLI = [str(Path(sys.executable).with_name("mcp-analytics"))]
TOKEN = "scrape-token-for-tests-7f3a"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


@pytest.fixture(scope="module")
def built(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    with psycopg.connect(module_db, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(days=2), hours=48, calls=3000, seed=0.21)
    DbtWarehouse(module_db, tmp_path_factory.mktemp("dbt")).dbt(
        "run", "--select", "+daily_tool_usage_summary"
    )
    return module_db


@pytest.fixture(scope="module")
def server(built: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": built, "MCPA_METRICS_TOKEN": TOKEN}
    env.pop("MCPA_ANALYST_URL", None)
    proc = subprocess.Popen(
        [*CLI, "metrics", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/healthz", {})[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the metrics server did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert TOKEN not in output


def _scrape(base: str) -> dict[str, object]:
    status, headers, body = _get(
        f"{base}/metrics",
        {"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text"},
    )
    assert status == 200, body
    assert headers["content-type"].startswith("application/openmetrics-text")
    return {family.name: family for family in text_string_to_metric_families(body)}


def _raw_totals(url: str) -> dict[tuple[str, str, str], tuple[list[int], int]]:
    """Per (server, tool, error class): calls per semantic-conventions bucket and the sum of
    durations in ms, from the raw rows."""
    bounds_ms = [round(b * 1000) for b in SEMCONV_BOUNDS_S]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select bcp_name, tool_name,
                coalesce(error_class, mcp_error_class(success, error_code)), duration_ms
            from tool_usage_logs where "timestamp" is not null
            """
        ).fetchall()
    totals: dict[tuple[str, str, str], tuple[list[int], int]] = {}
    for bcp, tool, cls, ms in rows:
        counts, total = totals.get((bcp, tool, cls), ([0] * 15, 0))
        bucket = next((k for k, b in enumerate(bounds_ms) if ms <= b), 14)
        counts[bucket] += 1
        totals[(bcp, tool, cls)] = (counts, total + ms)
    return totals


def test_scrape_equals_the_marts_and_the_raw_rows(server: str, built: str) -> None:
    families = _scrape(server)
    duration = families["mcp_server_operation_duration_seconds"]
    assert duration.type == "histogram" and duration.unit == "seconds"
    raw = _raw_totals(built)
    seen: dict[tuple[str, str, str], dict[str, float]] = {}
    for sample in duration.samples:
        labels = dict(sample.labels)
        assert labels["mcp_method_name"] == "tools/call"
        cls = labels.get("error_type") or "ok"
        assert cls in ERROR_CLASSES
        key = (labels["mcp_server"], labels["gen_ai_tool_name"], cls)
        name = sample.name.removeprefix("mcp_server_operation_duration_seconds")
        seen.setdefault(key, {})[name + labels.get("le", "")] = sample.value
    assert set(seen) == set(raw)
    for key, (counts, total_ms) in raw.items():
        values = seen[key]
        cumulative = 0
        for bound, n in zip((*SEMCONV_BOUNDS_S, float("inf")), counts, strict=True):
            cumulative += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            assert values[f"_bucket{le}"] == cumulative, (key, le)
        assert values["_count"] == sum(counts)
        assert values["_sum"] == pytest.approx(total_ms / 1000, abs=1e-9)
    calls = families["mcp_server_tool_calls"]
    assert calls.type == "counter"
    by_key = {
        (s.labels["mcp_server"], s.labels["gen_ai_tool_name"], s.labels.get("error_type") or "ok"):
        s.value
        for s in calls.samples
        if s.name == "mcp_server_tool_calls_total"
    }  # fmt: skip
    assert by_key == {key: sum(counts) for key, (counts, _) in raw.items()}
    # failures are there under their classes, not only successes
    assert any(cls != "ok" for _, _, cls in by_key)
    with psycopg.connect(built) as conn:
        newest = conn.execute(
            "select extract(epoch from max(refreshed_at))::float8"
            " from analytics.daily_tool_usage_summary"
        ).fetchone()[0]
    freshness = families["mcp_analytics_mart_refreshed_timestamp_seconds"]
    assert freshness.samples[0].value == pytest.approx(newest)


def test_late_rows_raise_the_counters_after_a_build(
    server: str, built: str, tmp_path: Path
) -> None:
    before = _scrape(server)["mcp_server_tool_calls"]
    total_before = sum(s.value for s in before.samples if s.name.endswith("_total"))
    with psycopg.connect(built, autocommit=True) as conn:
        load_synthetic(
            conn, start=NOW - timedelta(days=1), hours=2, calls=250, seed=0.22, tag="late"
        )
    DbtWarehouse(built, tmp_path).dbt("run", "--select", "+daily_tool_usage_summary")
    after = _scrape(server)["mcp_server_tool_calls"]
    total_after = sum(s.value for s in after.samples if s.name.endswith("_total"))
    assert total_after == total_before + 250


def test_a_scrape_without_the_token_is_refused(server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, response_headers, body = _get(f"{server}/metrics", headers)
        assert status == 401, headers
        assert response_headers["www-authenticate"].startswith("Bearer")
        assert "mcp_server" not in body


def test_serve_refuses_a_public_address_without_a_token(built: str) -> None:
    env = {**os.environ, "DATABASE_URL": built}
    env.pop("MCPA_METRICS_TOKEN", None)
    proc = subprocess.run(
        [*CLI, "metrics", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "MCPA_METRICS_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr

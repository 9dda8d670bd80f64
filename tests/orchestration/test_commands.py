"""`mcp-analytics materialize` and `mcp-analytics ui`, for real, on a test database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from mcp_analytics import cli
from tests.helpers.processes import alive, descendants
from tests.helpers.telemetry import insert_telemetry
from tests.helpers.web import free_port

pytestmark = pytest.mark.slow


def test_materialize_runs_every_job_into_the_persistent_instance(
    project_env, bootstrapped_db, capsys
):
    insert_telemetry(bootstrapped_db, hours=2, per_hour=6)
    assert cli.main(["materialize"]) == 0
    out, err = capsys.readouterr()
    for job in ("observe_raw", "hourly_marts", "daily_maintenance"):
        line = next(x for x in out.splitlines() if x.startswith(job))
        assert " ok " in line, out
    _progress_is_shown_as_it_happens(err)
    home = Path(project_env["MCPA_STATE_DIR"]) / "dagster"
    assert "enabled: false" in (home / "dagster.yaml").read_text()
    with psycopg.connect(bootstrapped_db) as conn:
        runs = conn.execute("select pipeline_name, status from dagster.runs").fetchall()
        assert sorted(runs) == [
            ("daily_maintenance", "SUCCESS"),
            ("hourly_marts", "SUCCESS"),
            ("observe_raw", "SUCCESS"),
        ]
        keys = {r[0] for r in conn.execute("select asset_key from dagster.asset_keys")}
    for key in ("raw/tool_usage_logs", "marts/hourly_tool_usage_summary", "maintenance/retention"):
        assert json.dumps(key.split("/")).replace(" ", "") in {k.replace(" ", "") for k in keys}


def _progress_is_shown_as_it_happens(err: str) -> None:
    """stderr has each job's start, each step's start and end with seconds, and one line per
    dbt node as dbt finished it (`n/N`, status, seconds), in the order they happened."""
    lines = err.splitlines()
    assert lines[0] == "observe_raw: started", err
    assert lines.index("hourly_marts: started") < lines.index("daily_maintenance: started")
    ends = [x for x in lines if x.startswith("  step ") and ": ok in " in x]
    assert len(ends) >= 3 and all(x.endswith(" s") for x in ends), err
    nodes = [x.split() for x in lines if x.startswith("    dbt ")]
    assert nodes, err
    # the build's nodes (hooks and source freshness are numbered apart), finished by dbt's
    # threads in any order, each once
    total = max(int(n[1].split("/")[1]) for n in nodes)
    indexes = sorted(int(n[1].split("/")[0]) for n in nodes if n[1].endswith(f"/{total}"))
    assert indexes == list(range(1, total + 1)), err
    assert {n[2] for n in nodes} <= {"OK", "PASS"}, err
    assert any("hourly_tool_usage_summary" in " ".join(n) for n in nodes), err
    dbt_step = next(x for x in lines if x.startswith("  step dbt_") and "started" in x)
    first_node = next(i for i, x in enumerate(lines) if x.startswith("    dbt "))
    assert lines.index(dbt_step) < first_node, err


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _like_a_background_job() -> None:
    # What a non-interactive shell does to `cmd &`: SIGINT and SIGQUIT ignored, inherited by
    # everything started below (the case where a bare `dagster dev` never stops).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def test_ui_serves_the_asset_graph_and_stops_on_sigterm(project_env, tmp_path):
    port = free_port()
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_analytics.cli", "ui", "--port", str(port)],
        env={**os.environ, **project_env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_like_a_background_job,
    )
    try:
        keys: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not keys:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                keys = ["/".join(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]]
            except (OSError, KeyError, TypeError):
                time.sleep(1)
        assert "raw/tool_usage_logs" in keys and "maintenance/archive_export" in keys
        assert any(k.startswith("marts/") for k in keys)
        helpers = descendants(proc.pid)
        assert helpers  # dagster dev, webserver, daemon, code server
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(p) for p in helpers):
            time.sleep(0.5)
        assert not [p for p in helpers if alive(p)], "processes left behind"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

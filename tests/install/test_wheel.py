"""The wheel, installed into a fresh venv, runs the warehouse from an empty folder.

The wheel is built from a copy of the sources (`pip wheel --no-deps`), installed with
`--no-deps` into a venv that reuses this venv's packages (the `[warehouse]` dependencies), and
run with nothing but DATABASE_URL: bootstrap, ingest, build the marts, materialize every
asset. Nothing may come from the checkout, the current folder or the installed package's
folder may not be written to.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from .venvs import add_console_script, make_venv, pip_install, printed, this_site_packages

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
SOURCE_FOLDERS = ("mcp_analytics", "bootstrap_sql", "dbt_project")
GENERATED = shutil.ignore_patterns(
    "target", "logs", "dbt_packages", ".user.yml", "__pycache__", "*.pyc", "_project"
)


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy(ROOT / name, source / name)
    for name in SOURCE_FOLDERS:
        shutil.copytree(ROOT / name, source / name, ignore=GENERATED)
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(source)],
        check=True,
    )  # fmt: skip
    (wheel,) = dist.glob("mcp_analytics-*.whl")
    return wheel


def _files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if "__pycache__" not in path.parts
    }


def _events(path: Path) -> Path:
    """A few tool calls over the last hours, as `mcp-analytics ingest` reads them."""
    now = datetime.now(UTC)
    lines = [
        {
            "table": "tool_usage_logs",
            "execution_id": f"wheel-{i}",
            "bcp_name": "wheel",
            "tool_name": ("search", "fetch")[i % 2],
            "operation": "call",
            "success": i % 3 != 0,
            "duration_ms": 10 + i,
            "timestamp": (now - timedelta(hours=i % 4, minutes=i)).isoformat(),
            "parameters": {"i": i},
        }
        for i in range(24)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_wheel_bootstraps_builds_and_materializes_from_an_empty_folder(
    tmp_path: Path, empty_db: str
) -> None:
    wheel = _build_wheel(tmp_path)
    python = make_venv(tmp_path / "venv", [this_site_packages()])
    pip_install(python, str(wheel))
    add_console_script(python, "dbt")  # what pip makes when it installs dbt-core
    empty = tmp_path / "empty"
    empty.mkdir()
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MCPA_", "DBT_", "DAGSTER_", "XDG_", "PYTHON"))
    }
    env |= {"DATABASE_URL": empty_db, "HOME": str(home), "PATH": f"{python.parent}:/usr/bin:/bin"}
    code = "import mcp_analytics; print(mcp_analytics.__file__)"
    package = Path(printed(python, code, cwd=empty, env=env)).parent
    assert package.is_relative_to(tmp_path / "venv"), package
    assert (package / "_project" / "dbt_project" / "dbt_project.yml").exists()
    installed = _files(package)
    cli = str(python.with_name("mcp-analytics"))
    for args in (
        ["bootstrap"],
        ["ingest", "--quiet", "--workers", "0", str(_events(tmp_path / "events.jsonl"))],
        ["build"],
        ["materialize"],
    ):
        proc = subprocess.run(
            [cli, *args], cwd=empty, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, (args, proc.stdout[-3000:], proc.stderr[-3000:])

    assert list(empty.iterdir()) == [], "something was written to the current folder"
    assert _files(package) == installed, "something was written inside the installed package"
    state = home / ".local" / "state" / "mcp-analytics"
    assert (state / "dbt" / "target" / "manifest.json").exists()
    assert (state / "dagster" / "dagster.yaml").exists()
    with psycopg.connect(empty_db) as conn:
        calls = conn.execute(
            "select sum(total_calls) from analytics.hourly_tool_usage_summary"
        ).fetchone()
        runs = conn.execute("select pipeline_name, status from dagster.runs").fetchall()
    assert calls == (24,)
    assert sorted(runs) == [
        ("daily_maintenance", "SUCCESS"),
        ("hourly_marts", "SUCCESS"),
        ("observe_raw", "SUCCESS"),
    ]

"""Run dbt against the project's database as a subprocess of the venv's `dbt`.

A subprocess, not dbt's in-process `dbtRunner`: dbt keeps global state (flags, adapters,
logging) per process, so two invocations in one process (tests, the CLI, Dagster) can leak into
each other. The environment comes from `dbtenv.dbt_env(url)`; `target_path` keeps parallel runs
(one per test database) from overwriting each other's `target/`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_analytics.dbt.env import dbt_env


class DbtNotFoundError(RuntimeError):
    """The dbt executable is not installed next to this Python nor on PATH."""


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise DbtNotFoundError("dbt is not installed (run `make install`)")
    return found


def dbt_environment(
    url: str | None = None,
    *,
    target_path: Path | None = None,
    log_path: Path | None = None,
) -> dict[str, str]:
    env = dbt_env(url)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
    if log_path is not None:
        env["DBT_LOG_PATH"] = str(log_path)
    return env


def run_dbt(
    args: Sequence[str],
    *,
    url: str | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>`; the project and profile directories come from the environment."""
    env = dbt_environment(url, target_path=target_path, log_path=log_path)
    return subprocess.run(
        [dbt_executable(), *args],
        env=env,
        cwd=env["DBT_PROJECT_DIR"],
        text=True,
        capture_output=capture,
        check=False,
    )


def run_results(target_path: Path) -> dict[str, Any]:
    """The `run_results.json` of the last dbt invocation that used `target_path`."""
    return json.loads((target_path / "run_results.json").read_text())


def model_timings(target_path: Path) -> dict[str, float]:
    """Execution time in seconds of every model of the last invocation, by model name."""
    timings = {}
    for result in run_results(target_path)["results"]:
        unique_id = result["unique_id"]
        if unique_id.startswith("model."):
            timings[unique_id.rsplit(".", 1)[-1]] = float(result["execution_time"])
    return timings

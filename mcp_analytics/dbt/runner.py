"""Run dbt against the project's database as a subprocess, and read what it wrote.

A subprocess, not dbt's in-process `dbtRunner`: dbt keeps global state (flags, adapters,
logging) per process, so two invocations in one process (tests, the CLI, Dagster) can leak into
each other. Executable and environment come from `mcp_analytics.dbt.env`; `target_path` keeps
parallel runs (one per test database) from overwriting each other's artifacts, and the state
of dbt's last parse is kept across target folders (`mcp_analytics.dbt.partial_parse`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_analytics.dbt.env import dbt_env, dbt_executable
from mcp_analytics.dbt.partial_parse import reuse_parse


def run_dbt(
    args: Sequence[str],
    *,
    url: str | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` on `url` (None: the project's database); dbt's exit status is returned.

    Raises:
        DbtNotFoundError: dbt is not installed.
    """
    env = dbt_env(url, target_path=target_path, log_path=log_path)
    target = Path(env["DBT_PROJECT_DIR"], env["DBT_TARGET_PATH"])
    state = reuse_parse(env, args, target)
    proc = subprocess.run(
        [dbt_executable(), *args],
        env=env,
        cwd=env["DBT_PROJECT_DIR"],
        text=True,
        capture_output=capture,
        check=False,
    )
    state.keep(target)
    return proc


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

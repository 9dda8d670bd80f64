"""A scratch copy of the dbt project, for tests that change a model or add one.

The copy is run with `--project-dir` by the real dbt (profiles and environment as usual), so
the project in the checkout is never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import run_dbt


def copy_project(destination: Path) -> Path:
    """Copy dbt_project/ (without target/ and logs/) to `destination`; returns the copy."""
    shutil.copytree(
        settings().dbt_project_dir,
        destination,
        ignore=shutil.ignore_patterns("target", "logs"),
    )
    return destination


def run_in(
    project: Path, url: str, *args: str, target: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` on the project copy `project` against `url` (output captured)."""
    return run_dbt(
        [*args, "--project-dir", str(project)],
        url=url,
        target_path=target or project / "target",
        log_path=project / "logs",
        capture=True,
    )


def output(proc: subprocess.CompletedProcess[str]) -> str:
    """The end of dbt's stdout and stderr, for assertion messages."""
    return proc.stdout[-6000:] + proc.stderr[-3000:]


def manifest(target: Path) -> dict[str, Any]:
    """The manifest.json that the last dbt invocation wrote to `target`."""
    return json.loads((target / "manifest.json").read_text())

"""The dbt manifest the code location is built from, produced when missing or outdated.

`DbtProject.prepare_if_dev()` only parses under `dagster dev`; we want a clean clone to load
everywhere (tests, `mcp-analytics materialize`, the webserver), so we run `dbt parse` ourselves
whenever any project file is newer than the manifest. Parsing needs the profile to render but
never connects, so the database coordinates come from settings without starting a server.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import dbt_executable
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse.db import libpq_params

# Folders dbt writes to or installs into: their changes never make the manifest stale.
_GENERATED = {"target", "logs", "dbt_packages"}


class ManifestError(RuntimeError):
    pass


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        if Path(root) == project_dir:
            dirs[:] = [d for d in dirs if d not in _GENERATED and not d.startswith(".")]
        for name in files:
            if name.endswith((".sql", ".yml", ".yaml", ".csv", ".md", ".py")):
                newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def parse_env() -> dict[str, str]:
    """Environment for `dbt parse`: the profile's variables, without touching the server."""
    cfg = settings()
    if cfg.database_url:
        params = libpq_params(cfg.database_url)
    else:
        params = {
            "host": str(cfg.state_dir),
            "port": "5432",
            "user": "postgres",
            "password": "",
            "dbname": cfg.embedded_db_name,
        }
    env = dict(os.environ)
    env.update(
        {
            "DBT_PROFILES_DIR": str(cfg.dbt_project_dir),
            "DBT_PROJECT_DIR": str(cfg.dbt_project_dir),
            "MCPA_PG_HOST": params["host"],
            "MCPA_PG_PORT": params["port"],
            "MCPA_PG_USER": params["user"],
            "MCPA_PG_PASSWORD": params["password"],
            "MCPA_PG_DBNAME": params["dbname"],
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def ensure_manifest(project_dir: Path | None = None) -> Path:
    """Path of an up-to-date `target/manifest.json`, running `dbt parse` when needed."""
    project_dir = project_dir or settings().dbt_project_dir
    if not (project_dir / "dbt_project.yml").exists():
        raise ManifestError(f"no dbt project in {project_dir} (dbt_project.yml is missing)")
    manifest = project_dir / "target" / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (webserver, daemon, tests) may load at once: parse once, under a lock.
    with open(manifest.parent / ".mcpa-parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
            return manifest
        proc = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(project_dir),
                "--target-path",
                str(manifest.parent),
            ],
            cwd=project_dir,
            env=parse_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not manifest.exists():
            raise ManifestError(
                "dbt parse failed:\n" + redact_text((proc.stdout + proc.stderr)[-4000:])
            )
    return manifest

"""The dbt manifest the code location is built from, produced when missing or outdated.

`DbtProject.prepare_if_dev()` only parses under `dagster dev`; we want a clean clone or a fresh
install to load everywhere (tests, `mcp-analytics materialize`, the webserver), so we run
`dbt parse` ourselves whenever any project file is newer than the manifest. Parsing renders
the profile but never connects, so the coordinates come from `offline_url()` without starting
a server. The manifest lives in `settings().dbt_target_dir`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from mcp_analytics.config import settings
from mcp_analytics.dbt.env import dbt_env, dbt_executable, offline_url
from mcp_analytics.dbt.partial_parse import reuse_parse
from mcp_analytics.ingest.redaction import redact_text

# Folders dbt writes to or installs into: their changes never make the manifest stale.
_GENERATED = {"target", "logs", "dbt_packages"}
_SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".py")


class ManifestError(RuntimeError):
    """dbt could not produce a manifest (no project, or `dbt parse` failed); no secret inside."""


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        if Path(root) == project_dir:
            dirs[:] = [d for d in dirs if d not in _GENERATED and not d.startswith(".")]
        for name in files:
            if name.endswith(_SOURCE_SUFFIXES):
                newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def _is_current(manifest: Path, project_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir)


def ensure_manifest() -> Path:
    """Path of an up-to-date `manifest.json` of the project, running `dbt parse` when needed.

    Raises:
        ManifestError: the project has no dbt_project.yml, or `dbt parse` failed (its output,
            passwords masked, is in the message).
        DbtNotFoundError: dbt is not installed.
    """
    cfg = settings()
    project_dir, target_dir = cfg.dbt_project_dir, cfg.dbt_target_dir
    if not (project_dir / "dbt_project.yml").exists():
        raise ManifestError(f"no dbt project in {project_dir} (dbt_project.yml is missing)")
    manifest = target_dir / "manifest.json"
    if _is_current(manifest, project_dir):
        return manifest
    target_dir.mkdir(parents=True, exist_ok=True)
    # Several processes (webserver, daemon, tests) may load at once: parse once, under a lock.
    with open(target_dir / ".mcpa-parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_current(manifest, project_dir):
            return manifest
        env = dbt_env(offline_url(), target_path=target_dir, log_path=cfg.dbt_log_dir)
        args = ["parse", "--quiet"]
        state = reuse_parse(env, args, target_dir)
        proc = subprocess.run(
            [dbt_executable(), *args],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        state.keep(target_dir)
        if proc.returncode != 0 or not manifest.exists():
            raise ManifestError(
                "dbt parse failed:\n" + redact_text((proc.stdout + proc.stderr)[-4000:])
            )
    return manifest

"""Fixtures of the orchestration tests that run the CLI's Dagster commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_analytics.config import settings


@pytest.fixture
def project_env(
    cli_env: Callable[[str], None],
    bootstrapped_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The CLI on the test database (cli_env), its Dagster state (DAGSTER_HOME, the archive)
    in tmp_path; returns the variables a subprocess needs: DATABASE_URL, MCPA_STATE_DIR."""
    cli_env(bootstrapped_db)
    # set by the command itself: registered here so that monkeypatch restores them
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "state" / "dagster"))
    monkeypatch.setenv("MCPA_DAGSTER_PG_URL", "")
    settings.cache_clear()
    return {"DATABASE_URL": bootstrapped_db, "MCPA_STATE_DIR": str(tmp_path / "state")}

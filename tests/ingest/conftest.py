"""Fixtures for the ingest tests (collector, writer, loader); helpers are in tests/helpers/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcp_analytics.config import settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Point the CLI (settings()) at a test database; restores the settings afterwards."""

    def use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("MCPA_INGEST_URL", raising=False)
        monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path / "state"))
        settings.cache_clear()

    yield use
    settings.cache_clear()

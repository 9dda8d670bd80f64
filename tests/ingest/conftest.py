"""Helpers for the ingest tests (collector, writer, loader)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from mcp_analytics.config import settings


def count(url: str, sql: str, params: tuple | None = None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def record_call(collector: Any, bcp: str, i: int) -> str:
    """The minimal tool call the collector tests record (`duration_ms` and `parameters` = i)."""
    return collector.record_tool_call(
        bcp_name=bcp,
        tool_name="t",
        operation="o",
        success=True,
        duration_ms=i,
        parameters={"i": i},
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll until `predicate()` is true (the collector writes on its own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Callable[[str], None]]:
    """Point the CLI (settings()) at a test database; restores the settings afterwards."""

    def use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("MCPA_INGEST_URL", raising=False)
        monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path / "state"))
        settings.cache_clear()

    yield use
    settings.cache_clear()

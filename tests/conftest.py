"""Fixtures: a real PostgreSQL server, and a fresh database per test that needs one.

The server is DATABASE_URL's when set (CI points the suite at PostgreSQL 15 this way), else the
project's embedded server. Helpers live in tests/helpers/.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.helpers.db import create_database, drop_database


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL on the test server with rights to create databases."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return db.server_url()


def _database(server: str, *, bootstrapped: bool) -> Iterator[str]:
    url = create_database(server)
    try:
        if bootstrapped:
            with psycopg.connect(url, autocommit=True) as conn:
                bootstrap(conn, settings().bootstrap_dir)
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def empty_db(server_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped afterwards."""
    yield from _database(server_url, bootstrapped=False)


@pytest.fixture
def bootstrapped_db(server_url: str) -> Iterator[str]:
    """URL of a new database with the bootstrap applied, dropped afterwards."""
    yield from _database(server_url, bootstrapped=True)


@pytest.fixture(scope="module")
def module_db(server_url: str) -> Iterator[str]:
    """A bootstrapped database shared by one test module (for slower, read-mostly tests)."""
    yield from _database(server_url, bootstrapped=True)


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

"""Fixtures: a real PostgreSQL server, and a fresh database per test that needs one.

The server is DATABASE_URL's when set (CI points the suite at PostgreSQL 15 this way), else the
project's embedded server. Each test database gets a unique name, so test runs can share a server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL on the test server with rights to create databases."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return db.server_url()


def _create_db(server: str) -> str:
    name = f"mcpa_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(db.with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return db.with_database(server, name)


def _drop_db(url: str) -> None:
    name = db.libpq_params(url)["dbname"]
    with psycopg.connect(db.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture
def empty_db(server_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped afterwards."""
    url = _create_db(server_url)
    try:
        yield url
    finally:
        _drop_db(url)


@pytest.fixture
def bootstrapped_db(server_url: str) -> Iterator[str]:
    """URL of a new database with the bootstrap applied, dropped afterwards."""
    url = _create_db(server_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        yield url
    finally:
        _drop_db(url)


@pytest.fixture(scope="module")
def module_db(server_url: str) -> Iterator[str]:
    """A bootstrapped database shared by one test module (for slower, read-mostly tests)."""
    url = _create_db(server_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        yield url
    finally:
        _drop_db(url)

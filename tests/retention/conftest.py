"""A fresh bootstrapped database per test, cloned from a per-module template.

Cloning (`create database ... template`) is much cheaper than running the bootstrap for every
test, and every test still starts from the same untouched state.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.warehouse import db


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(db.with_database(url, "postgres"), autocommit=True)


@pytest.fixture
def fresh_db(module_db: str) -> Iterator[str]:
    """URL of a copy of the module's bootstrapped database (which tests must not use directly)."""
    template = db.libpq_params(module_db)["dbname"]
    name = f"mcpa_test_{uuid.uuid4().hex[:12]}"
    with _admin(module_db) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    url = db.with_database(module_db, name)
    try:
        yield url
    finally:
        with _admin(module_db) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

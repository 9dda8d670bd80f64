"""A fresh bootstrapped database per test, cloned from a per-module template.

Cloning (`create database ... template`) is much cheaper than running the bootstrap for every
test, and every test still starts from the same untouched state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_analytics.warehouse import db
from tests.helpers.db import create_database, drop_database


@pytest.fixture
def fresh_db(module_db: str) -> Iterator[str]:
    """URL of a copy of the module's bootstrapped database (which tests must not use directly)."""
    url = create_database(module_db, template=db.libpq_params(module_db)["dbname"])
    try:
        yield url
    finally:
        drop_database(url)

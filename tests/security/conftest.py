"""Fixtures for the security tests: throwaway LOGIN roles that are members of a group role.

Roles are cluster-wide, so each test login gets a random name (mcpa_t_<hex>) and a random
password (used by password-authenticated servers such as CI's PostgreSQL 15; the embedded
server trusts its unix socket) and is dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.warehouse import db
from tests.helpers.db import url_as


@pytest.fixture(scope="module")
def make_login(server_url: str) -> Iterator[Callable[[str, str], str]]:
    """`make_login(db_url, group)` -> URL of a new login role in `group` (None: in no group)."""
    created: list[str] = []

    def make(db_url: str, group: str | None) -> str:
        name = f"mcpa_t_{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(24)
        create = sql.SQL("create role {} login password {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
        if group:
            create += sql.SQL(" in role {}").format(sql.Identifier(group))
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(create)
        created.append(name)
        return url_as(db_url, name, password)

    yield make
    with psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))

"""A non-superuser owner (managed PostgreSQL) is subject to the forced row-level security.

Superusers bypass RLS, so the rest of the suite cannot show FORCE at work: here a plain
login with CREATEDB bootstraps its own database (the files up to the security ones) and owns
the tables. As a member of mcp_admin it sees every row; without that membership it sees only
the rows bound to it.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.auth import bind_user
from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.helpers.db import url_as


@pytest.fixture
def owner_db(server_url: str, tmp_path: Path):
    """(owner URL, superuser URL) of a database bootstrapped by a non-superuser owner."""
    # Only the files this area depends on: later files belong to other areas.
    files = tmp_path / "bootstrap_sql"
    files.mkdir()
    for path in sorted(settings().bootstrap_dir.glob("0*.sql")):
        if path.name[:3] <= "023":
            shutil.copy(path, files / path.name)
    name, password = f"mcpa_t_{secrets.token_hex(6)}", secrets.token_urlsafe(18)
    dbname = f"mcpa_test_{secrets.token_hex(6)}"
    admin = psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True)
    admin.execute(
        sql.SQL("create role {} login createdb password {} in role mcp_admin").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    try:
        owner = url_as(db.with_database(server_url, "postgres"), name, password)
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        owner = db.with_database(owner, dbname)
        with psycopg.connect(owner, autocommit=True) as conn:
            assert not conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()[0]
            bootstrap(conn, files)
        yield owner, name, admin
    finally:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
        )
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
        admin.close()


def test_forced_rls_binds_the_owner_too(owner_db) -> None:
    url, name, admin = owner_db
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [
            conn.execute(
                "insert into users (username, password_hash) values (%s, 'x') returning id", (u,)
            ).fetchone()[0]
            for u in ("ann", "ben")
        ]
        conn.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive)"
            " values ('secret.key', '1', true)"
        )
        assert conn.execute("select count(*) from users").fetchone()[0] == 2
        # Retention's statement deletes what it must (the owner is an mcp_admin member).
        conn.execute(
            "insert into sessions (id, user_id, token, expires_at, created_at) values"
            " ('old', %s, 'h', now() - interval '1 day', now() - interval '2 days')",
            (ids[0],),
        )
        assert conn.execute("delete from sessions where expires_at < now()").rowcount == 1

    admin.execute(sql.SQL("revoke mcp_admin from {}").format(sql.Identifier(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from users").fetchone()[0] == 0
        assert conn.execute("select count(*) from system_configuration").fetchone()[0] == 0
        bind_user(conn, ids[1], local=False)
        assert conn.execute("select username from users").fetchall() == [("ben",)]

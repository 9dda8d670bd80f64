"""The whole bootstrap run by a non-superuser owner (managed PostgreSQL), retention included.

No bootstrap file declares a function with a `SET` clause on a custom parameter (PostgreSQL 15
and 18 let only a superuser, or a role granted SET on that parameter, create one, and managed
services rarely give that grant): 041 sets the retention flag in apply_retention()'s body. The
owner needs no parameter privilege. A future file that declares such a clause is refused
before anything is applied, with the grant to ask for.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import LEDGER, BootstrapError, bootstrap, discover
from tests.helpers.db import record_retention_flag, url_as

FLAG = "mcp_analytics.retention"


@dataclass
class Owner:
    name: str
    url: str  # the owner's own database, created by the owner
    admin: psycopg.Connection  # superuser, on the maintenance database

    def grant_flag(self) -> None:
        self.admin.execute(
            sql.SQL("grant set on parameter {} to {}").format(
                sql.SQL(FLAG), sql.Identifier(self.name)
            )
        )

    def revoke_flag(self) -> None:
        self.admin.execute(
            sql.SQL("revoke set on parameter {} from {}").format(
                sql.SQL(FLAG), sql.Identifier(self.name)
            )
        )


@pytest.fixture
def owner(server_url: str) -> Iterator[Owner]:
    """A login with CREATEDB and membership in mcp_admin, owning a fresh empty database."""
    maintenance = db.with_database(server_url, "postgres")
    admin = psycopg.connect(maintenance, autocommit=True)
    # The group roles are cluster-wide: on a fresh server, create them the way bootstrap does.
    admin.execute((settings().bootstrap_dir / "020_roles.sql").read_bytes())
    name, password = f"mcpa_t_{secrets.token_hex(6)}", secrets.token_urlsafe(18)
    dbname = f"mcpa_test_{secrets.token_hex(6)}"
    admin.execute(
        sql.SQL("create role {} login createdb password {} in role mcp_admin").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    result = Owner(name, "", admin)
    try:
        login = url_as(maintenance, name, password)
        with psycopg.connect(login, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        result.url = db.with_database(login, dbname)
        yield result
    finally:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
        )
        result.revoke_flag()  # a role holding a parameter privilege cannot be dropped
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
        admin.close()


def _flag(conn: psycopg.Connection) -> str | None:
    return conn.execute("select current_setting(%s, true)", (FLAG,)).fetchone()[0]


def test_owner_bootstraps_every_file_and_runs_retention(owner: Owner) -> None:
    with psycopg.connect(owner.url, autocommit=True) as conn:
        assert not conn.execute(
            "select has_parameter_privilege(current_user, %s, 'SET')", (FLAG,)
        ).fetchone()[0]
        assert not conn.execute(
            "select rolsuper from pg_roles where rolname = current_user"
        ).fetchone()[0]
        result = bootstrap(conn, settings().bootstrap_dir)
        assert result.applied == [m.name for m in discover(settings().bootstrap_dir)]
        assert conn.execute(f"select count(*) from {LEDGER}").fetchone()[0] == len(result.applied)

    # Calling retention needs no parameter privilege either: no SET clause in the catalog.
    with psycopg.connect(owner.url, autocommit=True) as conn:
        assert (
            conn.execute(
                "select proconfig from pg_proc"
                " where oid = 'apply_retention(boolean, text)'::regprocedure"
            ).fetchone()[0]
            is None
        )
        policies = conn.execute("select count(*) from data_retention_policies").fetchone()[0]
        dry = conn.execute(
            "select table_name, dry_run, rows_deleted from apply_retention(true)"
        ).fetchall()
        assert len(dry) == policies > 0
        assert all(row[1] is True and row[2] == 0 for row in dry)

        # A real run as the owner: old rows go, deleting triggers see the flag on, and the
        # caller's own value of the flag is back afterwards.
        record_retention_flag(conn)
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp")'
            " select 'old-' || g, 'bcp', 'tool', 'op', 1, true, now() - interval '3 years'"
            " from generate_series(1, 3) as g"
        )
        # Inside one transaction, so a flag left on would still show after the call.
        with conn.transaction():
            conn.execute(f"set local {FLAG} = 'caller'")
            removed = conn.execute(
                "select rows_deleted from apply_retention(false, 'tool_usage_logs')"
            ).fetchone()[0]
            assert _flag(conn) == "caller"
        assert removed == 3
        assert conn.execute("select flag from flag_seen").fetchall() == [("on",)] * 3
        assert _flag(conn) in (None, "")

        # On an error, rolling back to a savepoint restores the caller's value too.
        conn.execute(
            "insert into data_retention_policies (table_name, retention_days)"
            " values ('no_such_table', 1)"
        )
        with conn.transaction():
            conn.execute(f"set local {FLAG} = 'caller'")
            with pytest.raises(psycopg.errors.UndefinedTable), conn.transaction():
                conn.execute("select * from apply_retention(true)")
            assert _flag(conn) == "caller"


def test_a_file_that_needs_a_parameter_grant_is_refused_before_anything_applies(
    owner: Owner, tmp_path: Path
) -> None:
    work = tmp_path / "bootstrap_sql"
    shutil.copytree(settings().bootstrap_dir, work)
    (work / "900_flagged.sql").write_text(
        f"create function flagged() returns int language sql\nset {FLAG} = 'on'\nas 'select 1';\n"
    )
    with psycopg.connect(owner.url, autocommit=True) as conn:
        with pytest.raises(BootstrapError) as err:
            bootstrap(conn, work)
        message = str(err.value)
        assert f"grant set on parameter {FLAG} to {owner.name}" in message
        assert "Nothing was applied" in message
        assert conn.execute(f"select count(*) from {LEDGER}").fetchone()[0] == 0
        assert conn.execute("select to_regclass('tool_usage_logs')").fetchone()[0] is None

    # The grant the message asks for is enough.
    owner.grant_flag()
    with psycopg.connect(owner.url, autocommit=True) as conn:
        assert bootstrap(conn, work).applied[-1] == "900_flagged.sql"
        assert conn.execute("select flagged()").fetchone()[0] == 1

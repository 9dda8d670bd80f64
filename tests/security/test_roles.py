"""Each group role, connected as a real login: what it may do and what it is refused.

Data is set up by the bootstrapping (owner) connection; every assertion then runs on a
connection of a throwaway login that is a member of mcp_ingest / mcp_analyst / mcp_app /
mcp_admin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from mcp_analytics.auth import bind_user
from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.tables import raw_table_names

GROUPS = ("mcp_admin", "mcp_ingest", "mcp_analyst", "mcp_app")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def world(module_db: str) -> dict:
    """Two users with a session each, sensitive config rows, a mart dbt would have made."""
    with psycopg.connect(module_db, autocommit=True) as conn:
        ids = {}
        for name in ("alice", "bob"):
            (ids[name],) = conn.execute(
                "insert into users (username, password_hash) values (%s, 'not-a-hash')"
                " returning id",
                (name,),
            ).fetchone()
            conn.execute(
                "insert into sessions (id, user_id, token, expires_at)"
                " values (%s, %s, %s, now() + interval '1 hour')",
                (f"s-{name}", ids[name], hashlib.sha256(name.encode()).hexdigest()),
            )
        conn.execute(
            """
            insert into system_configuration (config_key, config_value, is_sensitive) values
            ('integrations.api_key', '"sk-secret"', true),
            ('analytics.collector_token', '"tok-secret"', true),
            ('unclassified.thing', '1', null)
            """
        )
        # What dbt does after bootstrap, as the same (admin URL) user: default privileges apply.
        conn.execute("create table analytics.fct_demo as select 1 as n")
        conn.execute("create view analytics.stg_demo as select n from analytics.fct_demo")
        # Staging as dbt makes it: telemetry views granted to analysts (+grants), the view
        # over users not.
        conn.execute(
            "create view analytics_staging.stg_mcp__demo as"
            " select execution_id, duration_ms from public.tool_usage_logs"
        )
        conn.execute("grant select on analytics_staging.stg_mcp__demo to mcp_analyst")
        conn.execute(
            "create view analytics_staging.stg_mcp__users_demo as select id, username from users"
        )
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            " duration_ms, success, \"timestamp\") values ('owner-1', 'b', 't', 'o', 1, true, %s)",
            (NOW,),
        )
        conn.execute("refresh materialized view hourly_tool_usage_summary")
    return ids


@pytest.fixture(scope="module")
def urls(module_db: str, make_login, world) -> dict[str, str]:
    return {group: make_login(module_db, group) for group in GROUPS}


@pytest.fixture
def as_role(urls: dict[str, str]) -> Iterator:
    opened: list[psycopg.Connection] = []

    def connect(group: str) -> psycopg.Connection:
        conn = psycopg.connect(urls[group], autocommit=True)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


def refused(conn: psycopg.Connection, query: str, params: tuple = ()) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute(query, params)


def config_keys(conn: psycopg.Connection) -> set[str]:
    return {k for (k,) in conn.execute("select config_key from system_configuration")}


def test_group_roles_exist_without_login(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        rows = dict(
            conn.execute(
                "select rolname, rolcanlogin from pg_roles where rolname = any(%s)", (list(GROUPS),)
            ).fetchall()
        )
        assert rows == dict.fromkeys(GROUPS, False)
        assert conn.execute("select pg_has_role('mcp_app', 'mcp_analyst', 'member')").fetchone()[0]


def test_role_file_is_idempotent(module_db: str) -> None:
    # Every bootstrap of every database runs it against roles that already exist.
    text = (settings().bootstrap_dir / "020_roles.sql").read_text()
    with psycopg.connect(module_db) as conn:
        conn.execute(text.encode())
        conn.rollback()


def test_logins_outside_the_groups_cannot_connect(module_db: str, make_login) -> None:
    url = make_login(module_db, None)
    with pytest.raises(psycopg.OperationalError, match="CONNECT"):
        psycopg.connect(url).close()


def test_forced_row_level_security(module_db: str) -> None:
    with psycopg.connect(module_db) as conn:
        rows = conn.execute(
            "select relname, relrowsecurity, relforcerowsecurity from pg_class"
            " where relname in ('users', 'sessions', 'system_configuration')"
            " and relnamespace = 'public'::regnamespace"
        ).fetchall()
    assert sorted(rows) == [
        ("sessions", True, True),
        ("system_configuration", True, True),
        ("users", True, True),
    ]


def test_ingest_inserts_raw_rows_and_nothing_else(as_role, world) -> None:
    conn = as_role("mcp_ingest")
    # Raw inserts, including a user_id foreign key it cannot read (RI checks run as the owner).
    conn.execute(
        "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms,"
        " success, user_id, \"timestamp\") values ('ing-1', 'b', 't', 'o', 5, true, %s, %s)"
        " on conflict do nothing",
        (world["alice"], NOW),
    )
    conn.execute(
        "insert into mcp_request_logs (request_id, method, path, response_status_code,"
        " duration_ms, success, \"timestamp\") values ('r-1', 'POST', '/mcp', 200, 3, true, %s)",
        (NOW,),
    )
    conn.execute("insert into error_logs (level, message) values ('error', 'boom')")
    conn.execute(
        "insert into performance_metrics (metric_name, metric_value, aggregation_period)"
        " values ('latency', 1.5, '1m')"
    )
    conn.execute("create temp table stage (x int)")  # TEMPORARY on the database

    for table in raw_table_names("telemetry"):
        refused(conn, f"select count(*) from {table}")
        refused(conn, f"delete from {table}")
        refused(conn, f'update {table} set "timestamp" = now()')
        refused(conn, f"truncate {table}")
    refused(conn, "select count(*) from users")
    refused(conn, "select count(*) from sessions")
    refused(conn, "insert into users (username, password_hash) values ('evil', 'x')")
    refused(conn, "select count(*) from data_retention_policies")
    refused(conn, "select n from analytics.fct_demo")
    refused(conn, "select execution_id from analytics_staging.stg_mcp__demo")
    refused(conn, "create table public.mine (x int)")
    refused(conn, "update system_configuration set config_value = '0'")
    # Only the collector's non-sensitive analytics.* settings.
    keys = config_keys(conn)
    assert "analytics.batch_size" in keys
    assert all(k.startswith("analytics.") for k in keys)
    assert "analytics.collector_token" not in keys


def test_ingest_writer_path(module_db: str, urls, monkeypatch) -> None:
    """The real write path (COPY into temp staging, insert ... on conflict) as mcp_ingest."""
    writer = pytest.importorskip("mcp_analytics.ingest.writer")
    events = pytest.importorskip("mcp_analytics.ingest.events")
    monkeypatch.setenv("MCPA_INGEST_URL", urls["mcp_ingest"])
    settings.cache_clear()
    try:
        row = events.prepare(
            "tool_usage_logs",
            {
                "execution_id": "writer-1",
                "bcp_name": "hubspot",
                "tool_name": "search",
                "operation": "read",
                "duration_ms": 12,
                "success": True,
                "timestamp": NOW.isoformat(),
            },
        )
        with db.connection(role="ingest", autocommit=True) as conn:
            assert conn.execute("select current_user").fetchone()[0] != "postgres"
            reject = writer.RejectRecord(source="collector", reason="test", raw="{}")
            first = writer.write_batch(conn, {"tool_usage_logs": [row]}, [reject])
            again = writer.write_batch(conn, {"tool_usage_logs": [row]}, [reject])
            settings_keys = {
                k
                for (k, _) in conn.execute("select config_key, config_value from ingest_settings()")
            }
    finally:
        settings.cache_clear()
    assert first.total_inserted == 1 and not first.rejects
    assert again.total_inserted == 0
    assert "analytics.batch_size" in settings_keys
    assert all(k.startswith("analytics.") for k in settings_keys)
    with psycopg.connect(module_db) as owner:
        count = db.scalar(
            owner, "select count(*) from tool_usage_logs where execution_id = 'writer-1'"
        )
        rejects = db.scalar(owner, "select count(*) from ingest_rejects where reason = 'test'")
    assert count == 1 and rejects == 1


def test_analyst_reads_marts_and_public_config_only(as_role) -> None:
    conn = as_role("mcp_analyst")
    assert conn.execute("select n from analytics.fct_demo").fetchall() == [(1,)]
    assert conn.execute("select n from analytics.stg_demo").fetchall() == [(1,)]
    # A staging view reads raw rows with its owner's rights; the raw table itself stays closed.
    assert ("owner-1",) in conn.execute("select execution_id from analytics_staging.stg_mcp__demo")
    conn.execute("select count(*) from hourly_tool_usage_summary")
    keys = config_keys(conn)
    assert {"auth.max_login_attempts", "analytics.enabled"} <= keys
    assert not keys & {"integrations.api_key", "analytics.collector_token", "unclassified.thing"}

    for table in (
        "users",
        "sessions",
        "tool_usage_logs",
        "mcp_request_logs",
        "error_logs",
        "performance_metrics",
        "data_retention_policies",
        "mcp_analytics_migrations",
    ):
        refused(conn, f"select count(*) from {table}")
    refused(conn, "insert into analytics.fct_demo values (2)")
    refused(conn, "delete from analytics.fct_demo")
    refused(conn, "create table analytics.mine (x int)")
    refused(conn, "create table analytics_staging.mine (x int)")
    refused(conn, "select username from analytics_staging.stg_mcp__users_demo")
    refused(conn, "insert into system_configuration (config_key, config_value) values ('x', '1')")
    refused(conn, "insert into error_logs (level, message) values ('error', 'x')")
    refused(conn, "create temp table t (x int)")


def test_app_sees_only_the_bound_user(as_role, world) -> None:
    conn = as_role("mcp_app")
    # Unbound: nothing.
    assert conn.execute("select id from users").fetchall() == []
    assert conn.execute("select id from sessions").fetchall() == []
    bind_user(conn, world["alice"], local=False)
    assert conn.execute("select username from users").fetchall() == [("alice",)]
    assert conn.execute("select id from sessions").fetchall() == [("s-alice",)]
    # Own profile editable, the other user's row untouchable, secrets unreadable.
    cur = conn.execute("update users set first_name = 'Al' where username in ('alice', 'bob')")
    assert cur.rowcount == 1
    refused(conn, "select password_hash from users")
    refused(conn, "select token from sessions")
    refused(conn, "update users set login_attempts = 0")
    refused(conn, "update sessions set is_active = true")
    assert conn.execute("delete from sessions where id = 's-bob'").rowcount == 0
    # Marts, as an analyst.
    assert conn.execute("select n from analytics.fct_demo").fetchall() == [(1,)]
    # A transaction-local binding ends with the transaction.
    bind_user(conn, None, local=False)
    with conn.transaction():
        bind_user(conn, world["bob"])
        assert conn.execute("select username from users").fetchall() == [("bob",)]
    assert conn.execute("select id from users").fetchall() == []
    # A malformed binding is an error, never a match.
    conn.execute("select set_config('mcp_analytics.user_id', '1 or true', false)")
    with pytest.raises(errors.InvalidTextRepresentation):
        conn.execute("select id from users")


def test_admin_sees_everything(as_role, world) -> None:
    conn = as_role("mcp_admin")
    bind_user(conn, world["alice"], local=False)  # a binding does not narrow the admin
    assert {u for (u,) in conn.execute("select username from users")} == {"alice", "bob"}
    assert conn.execute("select count(*) from sessions").fetchone()[0] == 2
    assert {"integrations.api_key", "unclassified.thing"} <= config_keys(conn)
    assert conn.execute("select n from analytics.fct_demo").fetchall() == [(1,)]
    with conn.transaction():
        conn.execute("delete from tool_usage_logs where execution_id = 'owner-1'")
        conn.execute("update sessions set last_accessed = now()")
        raise_rollback(conn)


def raise_rollback(conn: psycopg.Connection) -> None:
    raise psycopg.Rollback()

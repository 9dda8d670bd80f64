"""What only maintenance may do (bootstrap_sql/063): switch off the late-data ledger, hold the
warehouse lock; and maintenance waits for locks with a timeout and says why it gave up."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.helpers.db import set_config

HOUR = "2026-11-30 10:00:00+00"


def _marks(conn: psycopg.Connection) -> int:
    return conn.execute(
        "select count(*) from mart_dirty_buckets where mart = 'hourly_tool_usage_summary'"
        " and bucket = %s",
        (HOUR,),
    ).fetchone()[0]


def _insert_call(conn: psycopg.Connection, execution_id: str) -> None:
    conn.execute(
        "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
        " duration_ms, success, \"timestamp\") values (%s, 'b', 't', 'o', 1, true, %s)",
        (execution_id, "2026-11-30 10:15:00+00"),
    )


def test_the_ingest_role_cannot_switch_off_the_ledger(module_db, make_login):
    url = make_login(module_db, "mcp_ingest")
    with psycopg.connect(module_db, autocommit=True) as admin:
        admin.execute("delete from mart_dirty_buckets")
    with psycopg.connect(url) as conn:
        # the token only apply_retention() may write
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into retention_bypass values (pg_backend_pid(), pg_current_xact_id())"
            )
        conn.rollback()
        # the session setting the triggers used to trust, set by hand both ways
        conn.execute("set mcp_analytics.retention = 'on'")
        conn.execute("select set_config('mcp_analytics.retention', 'on', true)")
        _insert_call(conn, "bypass-attempt")
        conn.commit()
    with psycopg.connect(module_db) as admin:
        assert _marks(admin) == 1
        assert admin.execute("select count(*) from retention_bypass").fetchone()[0] == 0


def test_retention_still_leaves_the_ledger_alone(bootstrapped_db):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp") values'
            " ('old', 'b', 't', 'o', 1, true, now() - interval '400 days')"
        )
        conn.execute("delete from mart_dirty_buckets")
        deleted = conn.execute(
            "select sum(rows_deleted) from apply_retention(false, 'tool_usage_logs')"
        ).fetchone()[0]
        assert deleted == 1
        assert conn.execute("select count(*) from mart_dirty_buckets").fetchone()[0] == 0
        # the token lived only inside the run
        assert conn.execute("select count(*) from retention_bypass").fetchone()[0] == 0
        # an admin's own statements with the flag set are marked: only retention is exempt
        conn.execute("set mcp_analytics.retention = 'on'")
        _insert_call(conn, "admin-with-flag")
        assert _marks(conn) == 1


@pytest.mark.parametrize("group", ["mcp_ingest", "mcp_analyst", "mcp_app"])
def test_a_low_role_cannot_take_the_warehouse_lock(module_db, make_login, group):
    url = make_login(module_db, group)
    with psycopg.connect(url) as conn:
        for statement in (
            "select warehouse_lock(true)",
            "lock table warehouse_lock in share mode",
            "lock table warehouse_lock in access share mode",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_the_old_advisory_key_no_longer_stalls_retention(module_db, make_login):
    analyst = make_login(module_db, "mcp_analyst")
    with psycopg.connect(analyst, autocommit=True) as conn:
        # any role may take any advisory lock: the key of 040, held for ever
        key = (
            "hashtext('mcp_analytics'), hashtext('warehouse')",
            "hashtext('mcp_analytics.partitions'),"
            " hashtext('tool_usage_logs'::regclass::oid::text)",
        )
        for k in key:
            conn.execute(f"select pg_advisory_lock({k})")
        with psycopg.connect(module_db, autocommit=True) as admin:
            admin.execute("set lock_timeout = '5s'")
            admin.execute("select * from apply_retention(false, 'tool_usage_logs')")
            admin.execute("select create_monthly_partitions('tool_usage_logs', 4)")


def test_retention_gives_up_on_a_held_warehouse_lock_and_names_the_holder(module_db):
    with psycopg.connect(module_db) as build:
        build.execute("set application_name = 'a dbt build'")
        build.execute("select warehouse_lock(true)")
        pid = build.execute("select pg_backend_pid()").fetchone()[0]
        with psycopg.connect(module_db, autocommit=True) as maintenance:
            set_config(maintenance, "maintenance.warehouse_lock_timeout_seconds", 1)
            try:
                started = time.monotonic()
                with pytest.raises(psycopg.errors.LockNotAvailable) as err:
                    maintenance.execute("select * from apply_retention()")
                waited = time.monotonic() - started
            finally:
                set_config(maintenance, "maintenance.warehouse_lock_timeout_seconds", 3600)
    message = str(err.value)
    assert message.startswith("warehouse lock: gave up waiting after 00:00:01")
    assert f"held by pid {pid} (user " in message and "a dbt build" in message
    assert "maintenance.warehouse_lock_timeout_seconds" in err.value.diag.message_hint
    assert 0.9 < waited < 30


def test_builds_share_the_lock_and_retention_waits_for_them(module_db):
    with psycopg.connect(module_db) as first, psycopg.connect(module_db) as second:
        first.execute("select warehouse_lock(true)")
        second.execute("select warehouse_lock(true, '1 second')")  # builds run side by side
        done: list[str] = []

        def retention() -> None:
            with psycopg.connect(module_db, autocommit=True) as conn:
                conn.execute("select * from apply_retention(false, 'performance_metrics')")
                done.append("retention")

        thread = threading.Thread(target=retention)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not done  # waits for both builds
        first.commit()
        thread.join(1.0)
        assert thread.is_alive()
        second.commit()
        thread.join(30)
        assert done == ["retention"]


def _set_wait(url: str, seconds: int) -> None:
    set_config(url, "maintenance.lock_timeout_seconds", seconds)


def _gives_up_behind_open_ingest(
    url: str, ingest: str, execution_id: str, statement: str
) -> psycopg.errors.LockNotAvailable:
    """Run the maintenance `statement` as administrator (lock wait 1 s) while an ingest
    transaction that wrote `execution_id` stays open: it must give up within 30 s. Returns
    the error it gave up with."""
    _set_wait(url, 1)
    try:
        with psycopg.connect(ingest) as writer:
            _insert_call(writer, execution_id)  # and the transaction stays open
            with psycopg.connect(url, autocommit=True) as admin:
                started = time.monotonic()
                with pytest.raises(psycopg.errors.LockNotAvailable) as err:
                    admin.execute(statement)
                assert time.monotonic() - started < 30
            writer.rollback()
    finally:
        _set_wait(url, 300)
    return err.value


def test_retention_gives_up_on_a_session_left_in_a_transaction(module_db, make_login):
    ingest = make_login(module_db, "mcp_ingest")
    with psycopg.connect(module_db, autocommit=True) as admin:
        # a month old enough to be detached, with a row in it
        admin.execute("select create_monthly_partitions('tool_usage_logs', 0, 14)")
        admin.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp")'
            " values ('old', 'b', 't', 'o', 1, true, now() - interval '13 months')"
        )
    err = _gives_up_behind_open_ingest(
        module_db, ingest, "left-open-1", "select * from apply_retention(false, 'tool_usage_logs')"
    )
    assert str(err).startswith(
        "retention of tool_usage_logs: gave up after 00:00:01 waiting for a table lock"
    )
    assert "idle in transaction" in err.diag.message_hint
    with psycopg.connect(module_db) as admin:  # nothing changed
        assert admin.execute(
            "select count(*) from tool_usage_logs where execution_id = 'old'"
        ).fetchone() == (1,)


def test_partition_upkeep_gives_up_on_a_held_table_with_a_bounded_wait(module_db, make_login):
    ingest = make_login(module_db, "mcp_ingest")
    err = _gives_up_behind_open_ingest(
        module_db, ingest, "left-open-2", "select create_monthly_partitions('tool_usage_logs', 30)"
    )
    assert str(err).startswith(
        "create_monthly_partitions(tool_usage_logs): gave up after 00:00:01 waiting for a lock"
    )
    assert "maintenance.lock_timeout_seconds" in err.diag.message_hint

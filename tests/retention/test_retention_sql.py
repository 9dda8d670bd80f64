"""apply_retention() / cleanup_old_data() on a real database (bootstrap_sql/040_retention.sql)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.helpers.db import record_retention_flag

from .helpers import (
    insert_errors,
    insert_requests,
    insert_sessions,
    insert_tool_usage,
    make_user,
    month_partition,
    retention_rows,
    scalar,
    table_exists,
)

OLD = "150 days"  # older than every seed policy but error_logs (365 days)


@pytest.fixture
def conn(fresh_db: str):
    with psycopg.connect(fresh_db, autocommit=True) as c:
        # Monthly partitions for the past six months, so 150-day-old rows land in one.
        c.execute("select create_monthly_partitions('tool_usage_logs', 0, 6)")
        c.execute("select create_monthly_partitions('mcp_request_logs', 0, 6)")
        yield c


def test_partition_archived_verified_and_catalogued(conn):
    insert_tool_usage(conn, 40, OLD, "old-")
    insert_tool_usage(conn, 10, "1 day", "new-")
    part = month_partition(conn, "tool_usage_logs", OLD)
    # rows 150 days old + up to 40 minutes: all in the same month unless we sit on a boundary
    expected = scalar(conn, f"select count(*) from public.{part}")
    assert expected > 0

    result = retention_rows(conn)["tool_usage_logs"]

    assert result["action"] == "archive"
    assert result["rows_archived"] == 40 and result["rows_deleted"] == 40
    assert result["partitions_detached"] >= 1 and not result["dry_run"]
    assert not table_exists(conn, "public", part)
    assert scalar(conn, f"select count(*) from archive.{part}") == expected
    assert scalar(conn, "select count(*) from tool_usage_logs") == 10
    assert scalar(conn, "select count(*) from tool_usage_logs where execution_id like 'old-%'") == 0

    catalog = conn.execute(
        "select source_schema, source_table, archive_schema, kind, row_count, exported_at, "
        "range_to <= now() - interval '90 days', range_to - range_from <= interval '31 days' "
        "from archive.archived_partitions where archive_table = %s",
        (part,),
    ).fetchone()
    assert catalog == (
        "public",
        "tool_usage_logs",
        "archive",
        "partition",
        expected,
        None,
        True,
        True,
    )
    assert scalar(conn, "select sum(row_count) from archive.archived_partitions") == 40
    # the archive is a snapshot: no foreign key ties it to users any more
    fks = "select count(*) from pg_constraint where conrelid = %s::regclass and contype = 'f'"
    assert scalar(conn, fks, (f"archive.{part}",)) == 0


def test_partition_dropped_without_archive(conn):
    conn.execute(
        "update data_retention_policies set archive_before_delete = false "
        "where table_name = 'mcp_request_logs'"
    )
    insert_requests(conn, 30, OLD, "old-")
    insert_requests(conn, 5, "2 hours", "new-")
    part = month_partition(conn, "mcp_request_logs", OLD)

    result = retention_rows(conn)["mcp_request_logs"]

    assert result["action"] == "delete"
    assert result["rows_deleted"] == 30 and result["rows_archived"] == 0
    assert not table_exists(conn, "public", part) and not table_exists(conn, "archive", part)
    assert scalar(conn, "select count(*) from mcp_request_logs") == 5
    assert scalar(conn, "select count(*) from archive.archived_partitions") == 0


def test_default_partition_rows_archived_in_batches(conn):
    conn.execute(
        "update data_retention_policies set cleanup_batch_size = 7 "
        "where table_name = 'tool_usage_logs'"
    )
    insert_tool_usage(conn, 25, "3 years", "ancient-")  # no partition: DEFAULT
    insert_tool_usage(conn, 3, "3 years", "future-")  # also DEFAULT, but in the future:
    conn.execute(
        'update tool_usage_logs set "timestamp" = "timestamp" + interval \'6 years\' '
        "where execution_id like 'future-%'"
    )
    assert scalar(conn, "select count(*) from tool_usage_logs_default") == 28

    batches: list[str] = []
    conn.add_notice_handler(
        lambda d: batches.append(d.message_primary) if "batch of" in d.message_primary else None
    )
    conn.execute("set client_min_messages = debug1")
    result = retention_rows(conn)["tool_usage_logs"]
    conn.execute("reset client_min_messages")

    assert result["rows_archived"] == 25 and result["rows_deleted"] == 25
    assert batches == ["retention tool_usage_logs_default: batch of 7 rows"] * 3 + [
        "retention tool_usage_logs_default: batch of 4 rows"
    ]
    assert scalar(conn, "select count(*) from tool_usage_logs_default") == 3
    name, count, kind = conn.execute(
        "select archive_table, row_count, kind from archive.archived_partitions where kind = 'rows'"
    ).fetchone()
    assert name.startswith("tool_usage_logs_rows_") and (count, kind) == (25, "rows")
    archived = scalar(
        conn, f"select count(*) from archive.{name} where execution_id like 'ancient-%%'"
    )
    assert archived == 25


def test_error_logs_keep_unresolved(conn):
    insert_errors(conn, 5, "400 days", True, "old-resolved")
    insert_errors(conn, 4, "400 days", False, "old-unresolved")
    insert_errors(conn, 3, "400 days", None, "old-unknown")
    insert_errors(conn, 2, "10 days", True, "new-resolved")

    result = retention_rows(conn)["error_logs"]

    assert result["rows_deleted"] == 5 and result["rows_archived"] == 5
    left = dict(conn.execute("select category, count(*) from error_logs group by 1").fetchall())
    assert left == {"old-unresolved": 4, "old-unknown": 3, "new-resolved": 2}
    name = scalar(
        conn,
        "select archive_table from archive.archived_partitions where source_table = 'error_logs'",
    )
    assert scalar(conn, f"select count(*) from archive.{name} where resolved") == 5


def test_sessions_go_by_expires_at(conn):
    uid = make_user(conn)
    insert_sessions(conn, uid, 4, "10 days", "long-expired-")
    insert_sessions(conn, uid, 3, "2 days", "just-expired-")
    insert_sessions(conn, uid, 2, "-1 day", "valid-")

    result = retention_rows(conn)["sessions"]

    assert result["rows_deleted"] == 4 and result["rows_archived"] == 0
    left = {r[0] for r in conn.execute("select left(id, 5) from sessions").fetchall()}
    assert left == {"just-", "valid"}


def test_dry_run_reports_and_changes_nothing(conn):
    insert_tool_usage(conn, 12, OLD, "old-")
    insert_tool_usage(conn, 6, "3 years", "ancient-")
    insert_errors(conn, 3, "400 days", True, "old")
    part = month_partition(conn, "tool_usage_logs", OLD)
    before = scalar(conn, "select count(*) from tool_usage_logs")

    dry = retention_rows(conn, dry_run=True)

    assert dry["tool_usage_logs"]["dry_run"] is True
    assert dry["tool_usage_logs"]["rows_deleted"] == 18
    assert dry["tool_usage_logs"]["rows_archived"] == 18
    assert f"would archive partition {part} (12 rows)" in dry["tool_usage_logs"]["detail"]
    assert dry["error_logs"]["rows_deleted"] == 3
    assert scalar(conn, "select count(*) from tool_usage_logs") == before
    assert scalar(conn, "select count(*) from error_logs") == 3
    assert table_exists(conn, "public", part)
    assert scalar(conn, "select count(*) from archive.archived_partitions") == 0
    assert scalar(conn, "select count(*) from pg_tables where schemaname = 'archive'") == 1
    assert (
        scalar(conn, "select count(*) from data_retention_policies where last_cleanup is not null")
        == 0
    )

    real = retention_rows(conn)
    for table, row in dry.items():
        assert (row["rows_deleted"], row["rows_archived"], row["partitions_detached"]) == (
            real[table]["rows_deleted"],
            real[table]["rows_archived"],
            real[table]["partitions_detached"],
        ), table


@pytest.mark.parametrize(
    "bad_name",
    ["no_such_table", "public.nope", "tool_usage_logs; drop table users", 'x"y.z.w.v'],
)
def test_unknown_table_is_an_error_and_nothing_moves(conn, bad_name):
    insert_tool_usage(conn, 8, OLD, "old-")
    conn.execute(
        "insert into data_retention_policies (table_name, retention_days) values (%s, 1)",
        (bad_name,),
    )
    with pytest.raises(psycopg.Error) as err:
        conn.execute("select * from apply_retention()")
    assert bad_name in str(err.value)
    assert err.value.sqlstate in ("42P01", "42602")
    assert scalar(conn, "select count(*) from tool_usage_logs") == 8
    assert scalar(conn, "select count(*) from users") == 0  # the table is still there
    assert (
        scalar(conn, "select count(*) from data_retention_policies where last_cleanup is not null")
        == 0
    )
    # a disabled policy is not looked at
    conn.execute(
        "update data_retention_policies set cleanup_enabled = false where table_name = %s",
        (bad_name,),
    )
    assert retention_rows(conn)[bad_name]["action"] == "disabled"


def test_bookkeeping_and_disabled_policy(conn):
    insert_tool_usage(conn, 9, OLD, "old-")
    insert_requests(conn, 4, OLD, "old-")
    conn.execute(
        "update data_retention_policies set cleanup_enabled = false "
        "where table_name = 'mcp_request_logs'"
    )

    result = retention_rows(conn)

    assert result["mcp_request_logs"]["action"] == "disabled"
    assert scalar(conn, "select count(*) from mcp_request_logs") == 4
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "select table_name, last_cleanup is not null, last_cleanup_count, "
            "last_cleanup_duration_ms is not null from data_retention_policies"
        ).fetchall()
    }
    assert rows["tool_usage_logs"] == (True, 9, True)
    assert rows["error_logs"] == (True, 0, True)
    assert rows["mcp_request_logs"] == (False, 0, False)


def test_seed_cleanup_old_data_runs_with_seed_shape(conn):
    insert_errors(conn, 2, "400 days", True, "old")
    conn.execute(
        "update data_retention_policies set cleanup_enabled = false where table_name = 'sessions'"
    )
    cur = conn.execute("select * from cleanup_old_data()")
    assert [(d.name, d.type_code) for d in cur.description] == [
        ("table_name", 25),  # text
        ("deleted_count", 20),  # bigint
        ("execution_time_ms", 23),  # integer
    ]
    rows = {r[0]: r[1] for r in cur.fetchall()}
    assert rows == {
        "error_logs": 2,
        "mcp_request_logs": 0,
        "performance_metrics": 0,
        "tool_usage_logs": 0,
    }


def test_schema_qualified_policy_with_time_column(conn):
    conn.execute("create schema if not exists analytics")
    conn.execute(
        "create table analytics.some_summary (hour_bucket timestamptz not null, n int not null)"
    )
    conn.execute(
        "insert into analytics.some_summary "
        "select now() - g * interval '1 day' + interval '12 hours', g "
        "from generate_series(0, 19) as g"
    )
    conn.execute(
        "insert into data_retention_policies "
        "(table_name, retention_days, archive_before_delete, time_column) "
        "values ('analytics.some_summary', 10, false, 'hour_bucket')"
    )
    result = retention_rows(conn)["analytics.some_summary"]
    assert result["rows_deleted"] == 9  # 10.5 .. 18.5 days old
    assert scalar(conn, "select min(n) from analytics.some_summary") == 0
    assert scalar(conn, "select max(n) from analytics.some_summary") == 10

    # a date column works too: days strictly before the cutoff's date go
    conn.execute("create table analytics.some_daily (day date not null)")
    conn.execute(
        "insert into analytics.some_daily select current_date - g from generate_series(0, 19) as g"
    )
    conn.execute(
        "insert into data_retention_policies "
        "(table_name, retention_days, archive_before_delete, time_column) "
        "values ('analytics.some_daily', 10, true, 'day')"
    )
    daily = retention_rows(conn)["analytics.some_daily"]
    assert daily["rows_archived"] == 9  # days 11..19 ago
    assert scalar(conn, "select min(day) from analytics.some_daily") == scalar(
        conn, "select current_date - 10"
    )
    assert scalar(
        conn,
        "select archive_table from archive.archived_partitions where source_table = 'some_daily'",
    ).startswith("analytics_some_daily_rows_")

    conn.execute(
        "update data_retention_policies set time_column = 'nope' "
        "where table_name = 'analytics.some_summary'"
    )
    with pytest.raises(psycopg.errors.UndefinedColumn, match="column nope does not exist"):
        conn.execute("select * from apply_retention()")


def test_session_flag_is_on_while_deleting_only(conn):
    record_retention_flag(conn)
    insert_tool_usage(conn, 3, "3 years", "ancient-")
    retention_rows(conn)
    assert conn.execute("select flag from flag_seen").fetchall() == [("on",)] * 3
    assert scalar(conn, "select current_setting('mcp_analytics.retention', true)") in (None, "")


def test_waits_for_the_warehouse_lock_and_runs_serialised(conn, fresh_db):
    insert_tool_usage(conn, 5, "3 years", "ancient-")
    with psycopg.connect(fresh_db) as holder:
        # a build holds the warehouse lock shared for its transaction (bootstrap_sql/063)
        holder.execute("select warehouse_lock(true)")
        holder_pid = scalar(holder, "select pg_backend_pid()")
        conn.execute("set lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable, match=f"held by pid {holder_pid}"):
            conn.execute("select * from apply_retention()")
        # dry-run takes no lock
        assert retention_rows(conn, dry_run=True)["tool_usage_logs"]["rows_deleted"] == 5
        conn.execute("reset lock_timeout")
        holder.rollback()

    # A transaction that holds the lock shared (as a build driver does) may run retention.
    with psycopg.connect(fresh_db) as driver:
        driver.execute("select warehouse_lock(true)")
        driver.execute("set local lock_timeout = '2s'")
        assert retention_rows(driver)["tool_usage_logs"]["rows_deleted"] == 5
        driver.commit()
    insert_tool_usage(conn, 5, "3 years", "ancient2-")

    # Two runs at once: the second waits for the first and then finds nothing left.
    results: dict[str, int] = {}
    with psycopg.connect(fresh_db) as first:
        results["first"] = retention_rows(first)["tool_usage_logs"]["rows_deleted"]

        def second() -> None:
            with psycopg.connect(fresh_db, autocommit=True) as c:
                results["second"] = retention_rows(c)["tool_usage_logs"]["rows_deleted"]

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # blocked behind the uncommitted first run
        first.commit()
        thread.join(timeout=30)
    assert results == {"first": 5, "second": 0}
    assert scalar(conn, "select count(*) from archive.archived_partitions") == 2


def test_same_month_archived_twice_before_export(conn):
    insert_tool_usage(conn, 6, OLD, "first-")
    part = month_partition(conn, "tool_usage_logs", OLD)
    retention_rows(conn)
    # Late rows for that month: the partition is created again, then expires again.
    conn.execute("select create_monthly_partitions('tool_usage_logs', 0, 6)")
    assert table_exists(conn, "public", part)
    insert_tool_usage(conn, 4, OLD, "second-")

    assert retention_rows(conn)["tool_usage_logs"]["rows_archived"] == 4

    rows = conn.execute(
        "select archive_table, row_count from archive.archived_partitions order by id"
    ).fetchall()
    assert rows == [(part, 6), (f"{part}_2", 4)]
    assert scalar(conn, f"select count(*) from archive.{part}_2") == 4
    assert scalar(conn, f"select count(*) from archive.{part}") == 6


def test_only_administrators_may_run_retention(conn):
    if not scalar(conn, "select count(*) from pg_roles where rolname = 'mcp_analyst'"):
        pytest.skip("roles not bootstrapped")
    conn.execute("set role mcp_analyst")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="apply_retention"):
            conn.execute("select * from apply_retention(true)")
    finally:
        conn.execute("reset role")
    assert scalar(
        conn,
        "select has_function_privilege('mcp_admin', 'apply_retention(boolean, text)', 'execute')",
    )


def test_retention_leaves_the_late_data_ledger_alone(conn):
    if scalar(conn, "select to_regclass('public.mart_dirty_buckets') is null"):
        pytest.skip("late-data ledger (bootstrap_sql/010) not present")
    insert_errors(conn, 6, "400 days", True, "old")
    insert_errors(conn, 2, "400 days", True, "manual")
    conn.execute("delete from mart_dirty_buckets")
    conn.execute(
        "update data_retention_policies set cleanup_batch_size = 4 where table_name = 'error_logs'"
    )
    conn.execute("update error_logs set resolved = false where category = 'manual'")
    conn.execute("delete from mart_dirty_buckets")

    assert retention_rows(conn)["error_logs"]["rows_deleted"] == 6
    assert scalar(conn, "select count(*) from mart_dirty_buckets") == 0
    # the same kind of delete outside retention is recorded (the check above can fail)
    conn.execute("delete from error_logs where category = 'manual'")
    assert scalar(conn, "select count(*) from mart_dirty_buckets") > 0

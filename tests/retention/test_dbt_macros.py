"""The dbt macros `create_monthly_partitions` and `apply_retention`, run for real with
`dbt run-operation` against the project's dbt_project and a bootstrapped database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.dbt.env import dbt_env

from .helpers import insert_errors, insert_tool_usage, month_partition, scalar, table_exists

pytestmark = pytest.mark.slow  # each run-operation starts dbt (a few seconds)

DBT = str(Path(sys.executable).parent / "dbt")


@pytest.fixture(scope="module")
def dbt_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # One target dir for the module (all tests share module_db): dbt can parse partially.
    base = tmp_path_factory.mktemp("dbt")
    return base / "target", base / "logs"


def run_operation(url: str, dirs: tuple[Path, Path], macro: str, args: dict | None = None):
    target, logs = dirs
    cmd = [
        DBT,
        "run-operation",
        macro,
        "--project-dir",
        str(settings().dbt_project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
    ]
    if args is not None:
        cmd += ["--args", json.dumps(args)]
    return subprocess.run(
        cmd, env=dbt_env(url), capture_output=True, text=True, timeout=300, check=False
    )


def test_create_monthly_partitions_moves_rows_waiting_in_default(module_db, dbt_dirs):
    with psycopg.connect(module_db, autocommit=True) as conn:
        # Five months ahead has no partition yet (bootstrap creates current month + 3).
        conn.execute(
            """
            insert into tool_usage_logs (
                execution_id, bcp_name, tool_name, operation, duration_ms, success, "timestamp"
            )
            select 'future-' || g, 'bcp', 'tool', 'op', 1, true,
                   date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'
                   + interval '5 months' + g * interval '1 hour'
            from generate_series(1, 9) as g
            """
        )
        assert scalar(conn, "select count(*) from tool_usage_logs_default") == 9
        target = scalar(
            conn,
            "select 'tool_usage_logs_' || to_char(now() at time zone 'UTC' "
            "+ interval '5 months', 'YYYY_MM')",
        )

    def upkeep(table: str) -> str:
        done = run_operation(
            module_db, dbt_dirs, "create_monthly_partitions", {"table": table, "months_ahead": 5}
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "public.tool_usage_logs: 2 partition(s) created" in upkeep("tool_usage_logs")
    assert "public.mcp_request_logs: 2 partition(s) created" in upkeep("public.mcp_request_logs")
    with psycopg.connect(module_db) as conn:  # the rows waiting in DEFAULT moved to their month
        assert scalar(conn, "select count(*) from tool_usage_logs_default") == 0
        assert scalar(conn, f"select count(*) from {target}") == 9

    assert "public.tool_usage_logs: 0 partition(s) created" in upkeep("tool_usage_logs")

    # One table per call: the loop over tables is `mcp-analytics partitions`.
    several = run_operation(
        module_db, dbt_dirs, "create_monthly_partitions", {"table": ["tool_usage_logs"]}
    )
    assert several.returncode != 0
    assert "table must be one table name" in several.stdout
    # Names reach SQL only as quoted identifiers: anything else is refused before SQL runs.
    bad = run_operation(
        module_db, dbt_dirs, "create_monthly_partitions", {"table": "users; drop table users"}
    )
    assert bad.returncode != 0
    assert "is not a plain identifier" in bad.stdout
    missing = run_operation(module_db, dbt_dirs, "create_monthly_partitions", {"table": "nope"})
    assert missing.returncode != 0
    assert 'table "public"."nope" does not exist' in missing.stdout
    with psycopg.connect(module_db) as conn:
        assert table_exists(conn, "public", "users")


def test_apply_retention_dry_run_then_real(module_db, dbt_dirs):
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("select create_monthly_partitions('tool_usage_logs', 0, 6)")
        insert_tool_usage(conn, 14, "150 days", "old-")
        insert_errors(conn, 4, "400 days", True, "old-resolved")
        insert_errors(conn, 2, "400 days", False, "old-open")
        part = month_partition(conn, "tool_usage_logs", "150 days")

    dry = run_operation(module_db, dbt_dirs, "apply_retention", {"dry_run": True})
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "tool_usage_logs: would archive 14 row(s), " in dry.stdout
    assert f"would archive partition {part} (14 rows)" in dry.stdout
    assert "error_logs: would archive 4 row(s), 0 whole partition(s)" in dry.stdout
    assert "retention [dry run]: 5 policies" in dry.stdout
    with psycopg.connect(module_db) as conn:
        assert table_exists(conn, "public", part)
        assert scalar(conn, "select count(*) from error_logs") == 6
        assert (
            scalar(
                conn, "select count(*) from data_retention_policies where last_cleanup is not null"
            )
            == 0
        )

    real = run_operation(module_db, dbt_dirs, "apply_retention")
    assert real.returncode == 0, real.stdout + real.stderr
    assert "tool_usage_logs: archived 14 row(s), " in real.stdout
    assert f"partition {part} (14 rows) -> archive.{part}" in real.stdout
    with psycopg.connect(module_db) as conn:  # committed: visible from another session
        assert not table_exists(conn, "public", part)
        assert scalar(conn, f"select count(*) from archive.{part}") == 14
        assert scalar(conn, "select count(*) from error_logs") == 2
        counts = dict(
            conn.execute(
                "select table_name, last_cleanup_count from data_retention_policies "
                "where last_cleanup is not null"
            ).fetchall()
        )
        assert counts["tool_usage_logs"] == 14 and counts["error_logs"] == 4


def test_apply_retention_unknown_table_fails_and_changes_nothing(module_db, dbt_dirs):
    with psycopg.connect(module_db, autocommit=True) as conn:
        insert_tool_usage(conn, 5, "3 years", "ancient-")
        conn.execute(
            "insert into data_retention_policies (table_name, retention_days) "
            "values ('analytics.not_built_yet', 30)"
        )
    try:
        done = run_operation(module_db, dbt_dirs, "apply_retention")
        assert done.returncode != 0
        assert "analytics.not_built_yet, which does not exist" in done.stdout
        with psycopg.connect(module_db) as conn:
            assert (
                scalar(
                    conn, "select count(*) from tool_usage_logs where execution_id like 'ancient-%'"
                )
                == 5
            )
    finally:
        with psycopg.connect(module_db, autocommit=True) as conn:
            conn.execute(
                "delete from data_retention_policies where table_name = 'analytics.not_built_yet'"
            )

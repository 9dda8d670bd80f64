"""The retention driver's own rules: the late-data window, the warehouse lock it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.warehouse.lock import LOCK_KEY_SQL, lock_key
from mcp_analytics.warehouse.retention import (
    DEFAULT_LATE_DATA_HOURS,
    RetentionError,
    apply_retention,
    late_data_window_hours,
    retention_horizon_problems,
)

from .helpers import insert_errors, insert_tool_usage, scalar


@pytest.fixture
def conn(bootstrapped_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(bootstrapped_db, autocommit=True) as connection:
        yield connection


def _project(tmp_path: Path, vars_yaml: str) -> Path:
    (tmp_path / "dbt_project.yml").write_text(f"name: x\nvars:\n{vars_yaml}\n")
    return tmp_path


def test_late_data_window_is_the_exactness_var(tmp_path: Path) -> None:
    assert late_data_window_hours(_project(tmp_path, "  mart_exactness_window_hours: 2400")) == 2400
    # 0 means "verify the whole history" to dbt: no window to promise, the default applies
    assert late_data_window_hours(_project(tmp_path, "  mart_exactness_window_hours: 0")) == 48
    assert late_data_window_hours(_project(tmp_path, "  raw_schema: public")) == 48
    with pytest.raises(ValueError, match="must be a number of hours, got 'two days'"):
        late_data_window_hours(_project(tmp_path, "  mart_exactness_window_hours: two days"))
    assert DEFAULT_LATE_DATA_HOURS == 48


def test_the_project_window_comes_from_its_dbt_project() -> None:
    import yaml

    from mcp_analytics.config import settings

    project = yaml.safe_load((settings().dbt_project_dir / "dbt_project.yml").read_text())
    declared = project["vars"]["mart_exactness_window_hours"]
    assert declared > 0  # the project promises a window of its own
    assert late_data_window_hours() == declared


def test_a_longer_window_flags_the_policies_it_outlives(conn: psycopg.Connection) -> None:
    # Bootstrap policies: tool_usage_logs 90 d, mcp_request_logs 60 d, error_logs 365 d (only
    # resolved rows), performance_metrics 30 d: a 61-day window catches two of them.
    problems = retention_horizon_problems(conn, 61 * 24)
    assert problems == [
        "mcp_request_logs: retention 60 d is not longer than the late-data window 1464 h",
        "performance_metrics: retention 30 d is not longer than the late-data window 1464 h",
    ]
    assert retention_horizon_problems(conn, 61 * 24, table="tool_usage_logs") == []
    assert retention_horizon_problems(conn) == []

    insert_tool_usage(conn, 4, "3 years", "ancient-")
    with pytest.raises(RetentionError, match="retention refused: mcp_request_logs"):
        apply_retention(conn, window_hours=61 * 24)
    assert scalar(conn, "select count(*) from tool_usage_logs") == 4
    dry = apply_retention(conn, dry_run=True, window_hours=61 * 24)
    assert dry.horizon_problems == tuple(problems)
    assert dry.as_metadata()["late_data_window_hours"] == 1464
    assert scalar(conn, "select count(*) from tool_usage_logs") == 4


def test_retention_holds_the_warehouse_lock_from_the_first_table_to_the_last(
    bootstrapped_db: str, conn: psycopg.Connection
) -> None:
    insert_errors(conn, 3, "400 days", True, "old")
    insert_tool_usage(conn, 4, "3 years", "ancient-")
    classid, objid = lock_key(conn)
    seen: list[tuple[str, bool]] = []
    with psycopg.connect(bootstrapped_db, autocommit=True) as build:

        def on_notice(message: str) -> None:
            # what a dbt build (shared lock) would find at this point of the run
            free = build.execute(
                "select pg_try_advisory_lock_shared(%s, %s)", (classid, objid)
            ).fetchone()[0]
            if free:
                build.execute("select pg_advisory_unlock_shared(%s, %s)", (classid, objid))
            seen.append((message, free))

        report = apply_retention(conn, on_notice=on_notice)
        assert report.rows_deleted == 7
        assert len(seen) > 5 and not any(free for _, free in seen), seen
        # released afterwards
        assert build.execute(
            "select pg_try_advisory_lock_shared(%s, %s)", (classid, objid)
        ).fetchone()[0]


def test_retention_gives_up_when_a_build_holds_the_lock(
    bootstrapped_db: str, conn: psycopg.Connection
) -> None:
    insert_tool_usage(conn, 4, "3 years", "ancient-")
    progress: list[str] = []
    with psycopg.connect(bootstrapped_db, autocommit=True) as build:
        build.execute(f"select pg_advisory_lock_shared(k.classid, k.objid) from ({LOCK_KEY_SQL}) k")
        with pytest.raises(RetentionError, match="still holds the warehouse lock after 1 s"):
            apply_retention(conn, lock_timeout_seconds=1.0, on_notice=progress.append)
    assert progress == ["waiting for the warehouse lock (a dbt build or retention is running)"]
    assert scalar(conn, "select count(*) from tool_usage_logs") == 4
    # a dry run changes nothing, so it needs no lock
    with psycopg.connect(bootstrapped_db, autocommit=True) as build:
        build.execute(f"select pg_advisory_lock(k.classid, k.objid) from ({LOCK_KEY_SQL}) k")
        assert apply_retention(conn, dry_run=True).rows_deleted == 4

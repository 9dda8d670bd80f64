"""The retention driver's own rules: the late-data window, the warehouse lock it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

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


def _lock_is_free(url_or_conn: psycopg.Connection) -> bool:
    """Whether a build could take the warehouse lock (shared) at this moment."""
    with url_or_conn.transaction():
        try:
            url_or_conn.execute("lock table warehouse_lock in share mode nowait")
        except psycopg.errors.LockNotAvailable:
            return False
    return True


def test_each_table_of_retention_holds_the_warehouse_lock(
    bootstrapped_db: str, conn: psycopg.Connection
) -> None:
    insert_errors(conn, 3, "400 days", True, "old")
    insert_tool_usage(conn, 4, "3 years", "ancient-")
    seen: list[tuple[str, bool]] = []
    with psycopg.connect(bootstrapped_db, autocommit=True) as build:

        def on_notice(message: str) -> None:
            # what a dbt build (shared lock) would find at this point of the run
            seen.append((message, _lock_is_free(build)))

        report = apply_retention(conn, on_notice=on_notice)
        assert report.rows_deleted == 7
        assert len(seen) > 5 and not any(free for _, free in seen), seen
        assert _lock_is_free(build)  # released afterwards


def test_retention_gives_up_when_a_build_holds_the_lock(
    bootstrapped_db: str, conn: psycopg.Connection
) -> None:
    insert_tool_usage(conn, 4, "3 years", "ancient-")
    progress: list[str] = []
    with psycopg.connect(bootstrapped_db) as build:
        build.execute("select warehouse_lock(true)")  # a build's transaction
        pid = build.execute("select pg_backend_pid()").fetchone()[0]
        with pytest.raises(RetentionError, match="warehouse lock: gave up waiting after 00:00:01"):
            apply_retention(conn, lock_timeout_seconds=1.0, on_notice=progress.append)
        build.rollback()
    assert progress[0].startswith(
        f"waiting for the warehouse lock (at most 00:00:01), held by pid {pid} (user "
    ), progress
    assert scalar(conn, "select count(*) from tool_usage_logs") == 4
    # a dry run changes nothing, so it needs no lock
    with psycopg.connect(bootstrapped_db) as build:
        build.execute("select warehouse_lock(false)")
        assert apply_retention(conn, dry_run=True).rows_deleted == 4


def test_a_reports_totals_sum_its_results() -> None:
    """RetentionReport's totals (report.Total) add up its results, a missing count as 0."""
    from datetime import UTC, datetime

    from mcp_analytics.warehouse.report import Total
    from mcp_analytics.warehouse.retention import RetentionReport, RetentionResult

    cutoff = datetime(2026, 1, 1, tzinfo=UTC)
    results = (
        RetentionResult("a", "archive", 2, 30, 30, cutoff, 5, False, ""),
        RetentionResult("b", "delete", 0, None, 7, cutoff, 5, False, ""),  # type: ignore[arg-type]
    )
    report = RetentionReport(results, dry_run=False, duration_ms=10, late_data_window_hours=48)
    assert (report.rows_deleted, report.rows_archived, report.partitions_detached) == (37, 30, 2)
    assert isinstance(RetentionReport.rows_deleted, Total)
    assert (
        RetentionReport((), dry_run=True, duration_ms=0, late_data_window_hours=48).rows_deleted
        == 0
    )

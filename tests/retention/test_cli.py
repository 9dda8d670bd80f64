"""`mcp-analytics retention` and `mcp-analytics partitions` against a real database."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from mcp_analytics.cli import main

from .helpers import insert_errors, insert_tool_usage, scalar


@pytest.fixture
def db_url(bootstrapped_db: str, cli_env: Callable[[str], None]) -> str:
    cli_env(bootstrapped_db)
    return bootstrapped_db


def test_retention_dry_run_then_real(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        insert_tool_usage(conn, 11, "3 years", "ancient-")

    assert main(["retention", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "tool_usage_logs      would archive  0           11    11" in out
    assert "dry run: nothing changed" in out
    assert "retention public.tool_usage_logs: archive rows with timestamp <" in err  # progress
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "select count(*) from tool_usage_logs") == 11

    assert main(["retention", "--table", "tool_usage_logs"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[2].split()[:5] == ["tool_usage_logs", "archive", "0", "11", "11"]
    assert len(out.splitlines()) == 5  # header, rule, one policy, its detail, total
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "select count(*) from tool_usage_logs") == 0
        assert scalar(conn, "select sum(row_count) from archive.archived_partitions") == 11


def refused_unchanged(
    db_url: str, capsys: pytest.CaptureFixture[str], rows: int, policy: str, *says: str
) -> None:
    """With `rows` tool calls three years old and the statement `policy` run, `mcp-analytics
    retention` fails cleanly (exit 2, each of `says` in stderr, no traceback) and
    tool_usage_logs still holds its `rows` rows."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        insert_tool_usage(conn, rows, "3 years", "ancient-")
        conn.execute(policy)
    assert main(["retention"]) == 2
    err = capsys.readouterr().err
    assert "retention failed, nothing was changed" in err
    for text in says:
        assert text in err
    assert "Traceback" not in err
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "select count(*) from tool_usage_logs") == rows


def test_retention_bad_policy_is_a_clean_error(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused_unchanged(
        db_url,
        capsys,
        3,
        "insert into data_retention_policies (table_name, retention_days)"
        " values ('public.gone', 5)",
        "public.gone, which does not exist",
    )


def test_partitions_moves_rows_from_default(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        # five months ahead: beyond the bootstrap's current month + 3, so in DEFAULT
        conn.execute(
            """
            insert into mcp_request_logs (
                request_id, method, path, response_status_code, duration_ms, success, "timestamp"
            )
            select 'r' || g, 'GET', '/', 200, 1, true,
                   date_trunc('month', now()) + interval '5 months' + g * interval '1 hour'
            from generate_series(1, 6) as g
            """
        )
    assert main(["partitions", "--months-ahead", "6"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # the registry's partitioned tables, in its order; 4 bootstrap months + DEFAULT, and new:
    # 3 ahead and last month (--months-behind's default, the same as Dagster's upkeep)
    assert lines[0] == "public.tool_usage_logs: 4 partition(s) created, 9 in all"
    assert lines[1] == (
        "public.mcp_request_logs: 4 partition(s) created, 9 in all, 6 row(s) moved out of DEFAULT"
    )
    assert lines[2] == (
        "total: 8 partition(s) created in 2 table(s) (current month, 6 ahead, 1 behind)"
    )
    assert "Moved 6 rows of" in err
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "select count(*) from mcp_request_logs_default") == 0
        assert scalar(conn, "select count(*) from mcp_request_logs") == 6

    with pytest.raises(SystemExit):
        main(["partitions", "--months-ahead", "500"])
    assert "must be between 0 and 120" in capsys.readouterr().err


def test_partitions_defaults_are_the_drivers() -> None:
    """The CLI and Dagster's partition_upkeep take their defaults from the one driver."""
    import inspect

    from mcp_analytics.cli import build_parser
    from mcp_analytics.orchestration.defs.maintenance import PartitionUpkeepConfig
    from mcp_analytics.warehouse.partitions import upkeep_partitions

    driver = inspect.signature(upkeep_partitions).parameters
    cli = build_parser().parse_args(["partitions"])
    dagster = PartitionUpkeepConfig()
    for name in ("months_ahead", "months_behind"):
        assert getattr(cli, name) == getattr(dagster, name) == driver[name].default
    assert (cli.months_ahead, cli.months_behind) == (3, 1)


def test_library_runs_one_transaction_per_table(db_url: str) -> None:
    from mcp_analytics.warehouse.retention import RetentionError, apply_retention

    with psycopg.connect(db_url, autocommit=True) as conn:
        insert_errors(conn, 3, "400 days", True, "old")
        insert_tool_usage(conn, 4, "3 years", "ancient-")
        with psycopg.connect(db_url) as blocker:
            blocker.execute("lock table performance_metrics in access exclusive mode")
            conn.execute("set lock_timeout = '300ms'")
            with pytest.raises(RetentionError) as err:
                apply_retention(conn)
            blocker.rollback()
        conn.execute("reset lock_timeout")
        # tables before performance_metrics (alphabetical) are done and committed; the rest not
        assert [r.table_name for r in err.value.completed] == ["error_logs", "mcp_request_logs"]
        assert scalar(conn, "select count(*) from error_logs") == 0
        assert scalar(conn, "select count(*) from tool_usage_logs") == 4

        with pytest.raises(RetentionError, match="autocommit"), psycopg.connect(db_url) as plain:
            apply_retention(plain)


def test_partitions_unknown_table_is_a_clean_error(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["partitions", "--table", "tool_usage_logs", "--table", "nope"]) == 2
    out, err = capsys.readouterr()
    # the table before the bad one is done and reported; the error names the bad one
    assert out.startswith("tool_usage_logs: 1 partition(s) created, 6 in all\n")
    assert "partition upkeep failed: create_monthly_partitions: table nope does not exist" in err
    assert "Traceback" not in err


def test_retention_refuses_a_policy_inside_the_late_data_window(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused_unchanged(
        db_url,
        capsys,
        5,
        "update data_retention_policies set retention_days = 1"
        " where table_name = 'performance_metrics'",
        "retention failed, nothing was changed: retention refused: performance_metrics:",
        "retention 1 d is not longer than the late-data window 48 h",
    )

    # a dry run reports the problem instead; another table's policy may still run
    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warning: performance_metrics: retention 1 d is not longer" in out
    assert main(["retention", "--table", "tool_usage_logs"]) == 0
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "select count(*) from tool_usage_logs") == 0

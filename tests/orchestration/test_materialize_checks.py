"""`mcp-analytics materialize` fails (exit 1, the check named) when a check of severity ERROR
fails, as it does for a failed step: a cron job or CI notices."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from mcp_analytics import cli
from tests.helpers.telemetry import insert_telemetry

pytestmark = pytest.mark.slow


def test_a_failed_error_check_fails_the_run_and_is_named(project_env, bootstrapped_db, capsys):
    insert_telemetry(bootstrapped_db, hours=2, per_hour=6)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # a month no partition covers: the row waits in DEFAULT, which partition upkeep (a
        # few months ahead) does not fix; default_partition_empty fails at severity ERROR
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp") values'
            " ('far', 'b', 't', 'o', 1, true, '2099-01-01 00:00:00+00')"
        )
    assert cli.main(["materialize"]) == 1
    out, err = capsys.readouterr()
    line = next(x for x in out.splitlines() if x.startswith("daily_maintenance"))
    assert " FAILED " in line, out
    assert "check raw/tool_usage_logs:default_partition_empty failed (ERROR)" in out
    assert "failed checks (severity ERROR): raw/tool_usage_logs:default_partition_empty" in out, out
    # the failed check is on the terminal as it happens, and the job's log is named
    assert "    check raw/tool_usage_logs:default_partition_empty failed (ERROR)" in err, err
    assert "daily_maintenance's whole output (dbt's and Dagster's): " in out, out


def test_a_failed_dbt_step_shows_the_failing_node_and_dbt_error(
    project_env, bootstrapped_db, capsys
):
    """A dbt step that fails is shown with dbt's own error lines (the failing node named, the
    database's message), not only the first line of dagster-dbt's exception."""
    insert_telemetry(bootstrapped_db, hours=2, per_hour=6)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # a raw column the staging model reads is gone: dbt fails on that model
        conn.execute("alter table mcp_inventory_snapshots rename column error to error_gone")
    assert cli.main(["materialize"]) == 1
    out, err = capsys.readouterr()
    # on the terminal as it happens: the node dbt failed, then the step, with where its log is
    log = Path(project_env["MCPA_STATE_DIR"]) / "logs" / "materialize.log"
    node = next(x for x in err.splitlines() if x.startswith("    dbt ") and " ERROR " in x)
    assert "stg_mcp__mcp_inventory_snapshots" in node, err
    failed = next(x for x in err.splitlines() if x.startswith("  step dbt_") and "FAILED" in x)
    assert failed.endswith(f"its whole output: {log})"), err
    assert "Traceback" not in err + out, err
    assert f"hourly_marts's whole output (dbt's and Dagster's): {log}" in out, out
    step = next(x for x in out.splitlines() if "step dbt_" in x and " failed: " in x)
    assert "DagsterDbtCliRuntimeError" in step, out
    assert "\x1b[" not in out, out  # dbt's colour codes left out
    assert "stg_mcp__mcp_inventory_snapshots" in out, out
    assert "error" in out.split(step, 1)[1] and "does not exist" in out, out

"""`mcp-analytics materialize` fails (exit 1, the check named) when a check of severity ERROR
fails, as it does for a failed step: a cron job or CI notices."""

from __future__ import annotations

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
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("daily_maintenance"))
    assert " FAILED " in line, out
    assert "check raw/tool_usage_logs:default_partition_empty failed (ERROR)" in out
    assert "failed checks (severity ERROR): raw/tool_usage_logs:default_partition_empty" in out, out

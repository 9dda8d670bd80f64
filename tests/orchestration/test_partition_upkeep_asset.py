"""The daily partition upkeep also makes last month's partition: a warehouse bootstrapped this
month has none (bootstrap creates this month onwards), and late rows of last month would wait
in DEFAULT, failing its check, until someone ran upkeep by hand."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg

from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.maintenance import PARTITION_UPKEEP
from tests.helpers.db import scalar
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def test_last_months_late_rows_leave_default(bootstrapped_db, tmp_path):
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = month_start - timedelta(days=2)
    inserted = insert_telemetry(bootstrapped_db, hours=2, per_hour=3, end=last_month)
    waiting = "select count(*) from tool_usage_logs_default"
    assert scalar(bootstrapped_db, waiting) == inserted  # no partition for last month yet

    defs = build_definitions(bootstrapped_db, str(tmp_path / "archive"), str(tmp_path / "backup"))
    job = dg.define_asset_job("upkeep", selection=[PARTITION_UPKEEP]).resolve(
        asset_graph=defs.resolve_asset_graph()
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, resources=defs.resources)
    assert result.success

    assert scalar(bootstrapped_db, waiting) == 0
    partition = f"tool_usage_logs_{last_month:%Y_%m}"
    assert scalar(bootstrapped_db, f"select count(*) from {partition}") == inserted

"""Jobs and schedules: hourly incremental build; daily upkeep -> retention -> archive export.

Cron strings come from settings (MCPA_HOURLY_CRON, MCPA_DAILY_CRON, MCPA_SCHEDULE_TZ). Every
job that writes the warehouse carries the WRITES_TAG, limited to one run at a time in
dagster.yaml (on top of the `mcpa_warehouse` pool and the database advisory lock).
"""

from __future__ import annotations

import dagster as dg

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.checks import CHECKS
from mcp_analytics.orchestration.defs.dbt_assets import dbt_models
from mcp_analytics.orchestration.defs.maintenance import ARCHIVE_EXPORT, PARTITION_UPKEEP, RETENTION
from mcp_analytics.orchestration.defs.raw_assets import raw_tables

WRITES_TAG = {"mcp_analytics/writes": "warehouse"}

RAW = dg.AssetSelection.assets(raw_tables)
# dbt_models also owns the checks of dbt's source tests, which target raw/* keys.
DBT = dg.AssetSelection.assets(dbt_models) | dg.AssetSelection.checks(dbt_models)
MAINTENANCE = dg.AssetSelection.assets(PARTITION_UPKEEP, RETENTION, ARCHIVE_EXPORT)
# Custom checks run after what they watch: DEFAULT-empty after upkeep, late rows after retention.
MAINTENANCE_CHECKS = dg.AssetSelection.checks(*CHECKS)

observe_raw_job = dg.define_asset_job(
    "observe_raw",
    selection=RAW.without_checks(),
    description="Observe the raw tables (row counts, newest timestamp, rows in DEFAULT).",
)
hourly_marts_job = dg.define_asset_job(
    "hourly_marts",
    selection=DBT,
    tags=WRITES_TAG,
    description="Incremental `dbt build` of staging and marts (dbt tests run as asset checks).",
)
daily_maintenance_job = dg.define_asset_job(
    "daily_maintenance",
    selection=MAINTENANCE | MAINTENANCE_CHECKS,
    tags=WRITES_TAG,
    description="Partition upkeep, then retention, then archive export (one run, in order).",
)

JOBS = [observe_raw_job, hourly_marts_job, daily_maintenance_job]


def build_schedules() -> list[dg.ScheduleDefinition]:
    cfg = settings()
    return [
        dg.ScheduleDefinition(
            name="raw_observation_schedule",
            job=observe_raw_job,
            cron_schedule=cfg.hourly_build_cron,
            execution_timezone=cfg.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
        dg.ScheduleDefinition(
            name="hourly_marts_schedule",
            job=hourly_marts_job,
            cron_schedule=cfg.hourly_build_cron,
            execution_timezone=cfg.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
        dg.ScheduleDefinition(
            name="daily_maintenance_schedule",
            job=daily_maintenance_job,
            cron_schedule=cfg.daily_maintenance_cron,
            execution_timezone=cfg.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
    ]

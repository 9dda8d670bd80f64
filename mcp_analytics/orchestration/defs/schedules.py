"""Jobs and schedules: hourly incremental build; daily upkeep -> retention -> archive export
-> backup.

Cron strings come from settings (MCPA_HOURLY_CRON, MCPA_DAILY_CRON, MCPA_SCHEDULE_TZ). Every
job that writes the warehouse carries the WRITES_TAG, limited to one run at a time in
dagster.yaml (on top of the `mcpa_warehouse` pool and the database advisory lock).
"""

from __future__ import annotations

import dagster as dg

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.backup import BACKUP
from mcp_analytics.orchestration.defs.checks import CHECKS
from mcp_analytics.orchestration.defs.exactness import marts_exactness_checks
from mcp_analytics.orchestration.defs.freshness import source_freshness_checks
from mcp_analytics.orchestration.defs.maintenance import ARCHIVE_EXPORT, PARTITION_UPKEEP, RETENTION
from mcp_analytics.orchestration.defs.regressions import REGRESSION_CHECKS

WRITES_TAG = {"mcp_analytics/writes": "warehouse"}

MAINTENANCE = dg.AssetSelection.assets(PARTITION_UPKEEP, RETENTION, ARCHIVE_EXPORT, BACKUP)
# Custom checks run after what they watch: DEFAULT-empty after upkeep, late rows after retention.
MAINTENANCE_CHECKS = dg.AssetSelection.checks(*CHECKS)


def build_jobs(
    raw_tables: dg.AssetsDefinition, dbt_models: dg.AssetsDefinition
) -> dict[str, dg.UnresolvedAssetJobDefinition]:
    """The jobs by name: observe_raw, hourly_marts and daily_maintenance."""
    # dbt_models also owns the checks of dbt's source tests, which target raw/* keys; the
    # marts' whole-history exactness checks run daily, not with every build.
    dbt = dg.AssetSelection.assets(dbt_models).without_checks() | dg.AssetSelection.checks(
        dbt_models
    )
    exact_over_history = dg.AssetSelection.checks(*marts_exactness_checks(dbt_models))
    jobs = [
        dg.define_asset_job(
            "observe_raw",
            selection=dg.AssetSelection.assets(raw_tables).without_checks()
            | dg.AssetSelection.checks(*source_freshness_checks(dbt_models)),
            description="Observe the raw tables (row counts, newest timestamp, rows in DEFAULT) "
            "and check dbt's source freshness.",
        ),
        dg.define_asset_job(
            "hourly_marts",
            # the regression checks read the marts the build just refreshed
            selection=dbt | dg.AssetSelection.checks(*REGRESSION_CHECKS),
            tags=WRITES_TAG,
            description="Incremental `dbt build` of staging and marts (dbt tests run as asset "
            "checks).",
        ),
        dg.define_asset_job(
            "daily_maintenance",
            selection=MAINTENANCE | MAINTENANCE_CHECKS | exact_over_history,
            tags=WRITES_TAG,
            description="Partition upkeep, then retention, then archive export, then a backup "
            "(one run, in order); after retention, every mart's exactness over its whole "
            "history (dbt tests with mart_exactness_scope full).",
        ),
    ]
    return {job.name: job for job in jobs}


def build_schedules(
    jobs: dict[str, dg.UnresolvedAssetJobDefinition],
) -> list[dg.ScheduleDefinition]:
    """The three schedules, at the times of settings() (read when called)."""
    cfg = settings()

    def running(name: str, job: str, cron: str) -> dg.ScheduleDefinition:
        return dg.ScheduleDefinition(
            name=name,
            job=jobs[job],
            cron_schedule=cron,
            execution_timezone=cfg.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )

    return [
        running("raw_observation_schedule", "observe_raw", cfg.hourly_build_cron),
        running("hourly_marts_schedule", "hourly_marts", cfg.hourly_build_cron),
        running("daily_maintenance_schedule", "daily_maintenance", cfg.daily_maintenance_cron),
    ]

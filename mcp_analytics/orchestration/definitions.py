"""The code location: `dagster dev -m mcp_analytics.orchestration.definitions`, `mcp-analytics ui`.

Assets: raw tables (observed) -> dbt staging -> dbt marts -> maintenance (partition upkeep,
retention, archive export, backup); checks: dbt tests, dbt's source freshness
(defs/freshness.py) and the custom ones in defs/checks.py.

Importing this module runs nothing: `defs` is a `@dg.definitions` function that Dagster calls
when it loads the code location, and only then is the dbt manifest read (and `dbt parse` run
when the project changed). Tests and `mcp-analytics materialize` call `build_definitions()`.
"""

from __future__ import annotations

import dagster as dg

from mcp_analytics.orchestration.defs.backup import BackupResource, backup
from mcp_analytics.orchestration.defs.checks import CHECKS
from mcp_analytics.orchestration.defs.dbt_assets import build_dbt_assets, mart_keys
from mcp_analytics.orchestration.defs.exactness import marts_exactness_checks
from mcp_analytics.orchestration.defs.freshness import apply_freshness, source_freshness_checks
from mcp_analytics.orchestration.defs.inventory import (
    INVENTORY_JOB,
    build_inventory_schedule,
    inventory_snapshots,
)
from mcp_analytics.orchestration.defs.maintenance import (
    ArchiveResource,
    archive_export,
    partition_upkeep,
    retention_after,
)
from mcp_analytics.orchestration.defs.raw_assets import build_raw_tables
from mcp_analytics.orchestration.defs.regressions import REGRESSION_CHECKS
from mcp_analytics.orchestration.defs.resources import build_resources
from mcp_analytics.orchestration.defs.schedules import build_jobs, build_schedules
from mcp_analytics.orchestration.defs.sensors import build_sensors


def build_definitions(
    database_url: str | None = None,
    archive_dir: str | None = None,
    backup_dir: str | None = None,
) -> dg.Definitions:
    """All definitions, with resources pointed at `database_url` (None: the project's), the
    archive's Parquet files in `archive_dir` and the daily backups in `backup_dir` (None:
    the settings').

    Raises:
        ManifestError: `dbt parse` failed.
        DbtNotFoundError: dbt is not installed.
    """
    dbt_models = build_dbt_assets()
    raw_tables = build_raw_tables()
    jobs = build_jobs(raw_tables, dbt_models)
    defs = dg.Definitions(
        assets=[
            raw_tables,
            dbt_models,
            partition_upkeep,
            retention_after(mart_keys(dbt_models)),
            archive_export,
            backup,
            inventory_snapshots,
        ],
        asset_checks=[
            *CHECKS,
            *source_freshness_checks(dbt_models),
            *marts_exactness_checks(dbt_models),
            *REGRESSION_CHECKS,
        ],
        jobs=[*jobs.values(), INVENTORY_JOB],
        schedules=[*build_schedules(jobs), build_inventory_schedule()],
        sensors=build_sensors(jobs, dbt_models),
        resources={
            **build_resources(database_url),
            "archive": ArchiveResource(directory=archive_dir),
            "backups": BackupResource(directory=backup_dir),
        },
    )
    return apply_freshness(defs)


@dg.definitions
def defs() -> dg.Definitions:
    """The code location Dagster loads (`dagster dev -m ...`): the project's database."""
    return build_definitions()

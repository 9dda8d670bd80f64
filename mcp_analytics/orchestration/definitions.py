"""The code location: `dagster dev -m mcp_analytics.orchestration.definitions`, `mcp-analytics ui`.

Assets: raw tables (observed) -> dbt staging -> dbt marts -> maintenance (partition upkeep,
retention, archive export); checks: dbt tests plus the custom ones in defs/checks.py.
"""

from __future__ import annotations

import dagster as dg

from mcp_analytics.orchestration.defs.checks import CHECKS
from mcp_analytics.orchestration.defs.dbt_assets import dbt_models
from mcp_analytics.orchestration.defs.freshness import apply_freshness
from mcp_analytics.orchestration.defs.maintenance import (
    ArchiveResource,
    archive_export,
    partition_upkeep,
    retention,
)
from mcp_analytics.orchestration.defs.raw_assets import raw_tables
from mcp_analytics.orchestration.defs.resources import build_resources
from mcp_analytics.orchestration.defs.schedules import JOBS, build_schedules


def build_definitions(
    database_url: str | None = None, archive_dir: str | None = None
) -> dg.Definitions:
    """All definitions, with resources pointed at `database_url` (None: the project's)."""
    defs = dg.Definitions(
        assets=[raw_tables, dbt_models, partition_upkeep, retention, archive_export],
        asset_checks=CHECKS,
        jobs=JOBS,
        schedules=build_schedules(),
        resources={
            **build_resources(database_url),
            "archive": ArchiveResource(directory=archive_dir),
        },
    )
    return apply_freshness(defs)


defs = build_definitions()

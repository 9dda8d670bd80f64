"""dbt models as Dagster assets; dbt tests as asset checks; dbt sources map to the raw tables.

Nothing runs at import: `build_dbt_assets()` reads the manifest (running `dbt parse` first when
the project changed) when the code location is built. Keys and groups come from
lib/translator.py: `raw/<table>` -> `staging/<model>` -> `marts/<model>`.
"""

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtProject, dbt_assets

from mcp_analytics.config import settings
from mcp_analytics.dbt.manifest import ensure_manifest
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.orchestration.lib.dbt_resource import WarehouseDbtResource
from mcp_analytics.orchestration.lib.translator import RAW_PREFIX, raw_key, translator

__all__ = [
    "RAW_PREFIX",
    "WAREHOUSE_POOL",
    "build_dbt_assets",
    "dbt_project",
    "mart_keys",
    "raw_key",
]

#: Dagster pool of every asset that writes the warehouse; dagster.yaml limits it to one run.
WAREHOUSE_POOL = "mcpa_warehouse"


def dbt_project() -> DbtProject:
    """The project, with an up-to-date manifest (parsed now when missing or stale).

    Raises:
        ManifestError: `dbt parse` failed.
        DbtNotFoundError: dbt is not installed.
    """
    manifest = ensure_manifest()
    project_dir = settings().dbt_project_dir
    return DbtProject(
        project_dir=project_dir, profiles_dir=project_dir, target_path=manifest.parent
    )


def build_dbt_assets() -> dg.AssetsDefinition:
    """The `dbt_models` multi-asset: every model, its tests as checks, `dbt build` when run."""
    project = dbt_project()
    return _build_dbt_assets(Path(project.project_dir), Path(project.manifest_path))


@cache
def _build_dbt_assets(project_dir: Path, manifest_path: Path) -> dg.AssetsDefinition:
    project = DbtProject(
        project_dir=project_dir, profiles_dir=project_dir, target_path=manifest_path.parent
    )

    @dbt_assets(
        manifest=manifest_path,
        project=project,
        dagster_dbt_translator=translator(),
        name="dbt_models",
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: WarehouseDbtResource, postgres: PostgresResource
    ) -> Iterator[Any]:
        # Shared: retention (exclusive) cannot start while the marts are rebuilt, and waits.
        with postgres.warehouse_lock(context.log, shared=True):
            yield from dbt.cli(["build"], context=context).stream()

    return dbt_models


def mart_keys(dbt_models: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """Keys of the marts among `dbt_models` (every model outside staging)."""
    return [
        spec.key for spec in dbt_models.specs if spec.group_name not in (None, "staging", "raw")
    ]

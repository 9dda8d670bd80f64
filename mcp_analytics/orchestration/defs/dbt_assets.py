"""dbt models as Dagster assets; dbt tests as asset checks; dbt sources map to the raw tables.

Nothing runs at import: `build_dbt_assets()` reads the manifest (running `dbt parse` first when
the project changed) when the code location is built. Keys and groups come from
lib/translator.py: `raw/<table>` -> `staging/<model>` -> `marts/<model>`.
"""

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
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
    "dbt_vars",
    "mart_keys",
    "raw_key",
    "source_tables",
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


@cache
def _manifest(path: Path, mtime: float) -> dict[str, Any]:
    return json.loads(path.read_text())


def source_tables() -> list[str]:
    """Physical names of the tables dbt reads as sources (parses the project if needed)."""
    path = ensure_manifest()
    sources = _manifest(path, path.stat().st_mtime).get("sources", {}).values()
    return sorted({node.get("identifier") or node["name"] for node in sources})


def dbt_vars() -> dict[str, Any]:
    """Project-level vars from dbt_project.yml (e.g. the late-data window); no parse."""
    project_file = settings().dbt_project_dir / "dbt_project.yml"
    data = yaml.safe_load(project_file.read_text()) or {}
    return dict(data.get("vars") or {})


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

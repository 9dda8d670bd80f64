"""dbt models as Dagster assets; dbt tests as asset checks; dbt sources map to the raw tables.

Asset keys: a source table `T` is `raw/T` (observed in raw_assets.py), a model is
`<folder>/<model>` after its folder under models/ (`staging/stg_mcp__...`, `marts/...`), so
lineage reads raw -> staging -> marts.
"""

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets

from mcp_analytics.config import settings
from mcp_analytics.dbt.manifest import ensure_manifest
from mcp_analytics.orchestration.defs.resources import McpaDbtCliResource, PostgresResource

#: Dagster pool of every asset that writes the warehouse; dagster.yaml limits it to one run.
WAREHOUSE_POOL = "mcpa_warehouse"
RAW_PREFIX = "raw"


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_PREFIX, table])


class McpaDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # The physical table name, so the key matches the raw asset whatever the source's
            # logical name is.
            return raw_key(dbt_resource_props.get("identifier") or dbt_resource_props["name"])
        fqn = dbt_resource_props.get("fqn") or []
        if len(fqn) > 2:
            return dg.AssetKey([fqn[1], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_PREFIX
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "dbt"


TRANSLATOR = McpaDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=True
    )
)


@cache
def dbt_project() -> DbtProject:
    project_dir = settings().dbt_project_dir
    ensure_manifest(project_dir)
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


@cache
def manifest() -> dict[str, Any]:
    return json.loads(Path(dbt_project().manifest_path).read_text())


def source_tables() -> list[str]:
    """Physical names of the tables dbt reads as sources."""
    return sorted(
        {node.get("identifier") or node["name"] for node in manifest().get("sources", {}).values()}
    )


def dbt_vars() -> dict[str, Any]:
    """Project-level vars from dbt_project.yml (e.g. the late-data window)."""
    import yaml

    project_file = settings().dbt_project_dir / "dbt_project.yml"
    data = yaml.safe_load(project_file.read_text()) or {}
    return dict(data.get("vars") or {})


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_models",
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: AssetExecutionContext, dbt: McpaDbtCliResource, postgres: PostgresResource
) -> Iterator[Any]:
    # Shared: retention (exclusive) cannot start while the marts are rebuilt, and waits.
    with postgres.warehouse_lock(context.log, shared=True):
        yield from dbt.cli(["build"], context=context).stream()

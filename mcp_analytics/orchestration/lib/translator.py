"""How dbt nodes become Dagster assets: keys and groups that read raw -> staging -> marts.

- A dbt source is the raw table it names: key `raw/<table>` (the physical table name, so the
  key matches the observable asset in defs/raw_assets.py whatever the source's logical name),
  group `raw`.
- A model is `<folder>/<model>` after its folder under models/ (`staging/stg_mcp__...`,
  `marts/hourly_tool_usage_summary`), in the group of that folder.
- dbt tests, source tests included, become asset checks on the asset they test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

RAW_PREFIX = "raw"


def raw_key(table: str) -> dg.AssetKey:
    """Asset key of the raw table `table` (`raw/<table>`)."""
    return dg.AssetKey([RAW_PREFIX, table])


def _model_folder(dbt_resource_props: Mapping[str, Any]) -> str | None:
    # fqn is [project, folder, ..., name]: a model directly under models/ has no folder.
    fqn = dbt_resource_props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 else None


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Keys and groups of the dbt project's sources and models (see the module docstring)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_key(dbt_resource_props.get("identifier") or dbt_resource_props["name"])
        folder = _model_folder(dbt_resource_props)
        if folder:
            return dg.AssetKey([folder, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_PREFIX
        return _model_folder(dbt_resource_props) or "dbt"


def translator() -> WarehouseDbtTranslator:
    """The translator of the code location: dbt tests and source tests as asset checks."""
    return WarehouseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(
            enable_asset_checks=True, enable_source_tests_as_checks=True
        )
    )

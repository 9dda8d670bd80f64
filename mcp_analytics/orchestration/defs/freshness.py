"""Freshness, seen in one place (Dagster) and declared once for each kind of asset.

- Raw tables: dbt's source freshness is the declaration (`freshness:` and `loaded_at_field` of
  each source in dbt_project/models/staging/_mcp__sources.yml). Each such source gets the asset
  check `source_freshness` on `raw/<table>`, which runs `dbt source freshness` for the selected
  sources and reports dbt's verdict: pass; warn, a failed check of severity WARN; error (or a
  runtime error), a failed check of severity ERROR. So Dagster and `dbt source freshness` on the
  command line cannot disagree, and a new source with `freshness:` gets its check by itself.
- Marts and maintenance assets, which Dagster builds: freshness policies on their
  materializations (a missed hourly build, a missed daily maintenance run).
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from mcp_analytics.orchestration.lib.dbt_checks import dbt_verdict_checks

#: Built hourly: warn when a run was missed, fail after two.
MARTS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=2, minutes=30), warn_window=timedelta(hours=1, minutes=30)
)
#: Run daily: warn when a day's run is late, fail when a whole day was missed.
MAINTENANCE_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=49), warn_window=timedelta(hours=25)
)

MARTS = dg.AssetSelection.groups("marts")
MAINTENANCE = dg.AssetSelection.groups("maintenance")

#: Name of the check that reports dbt's source freshness on a raw table.
SOURCE_FRESHNESS_CHECK = "source_freshness"


def apply_freshness(defs: dg.Definitions) -> dg.Definitions:
    """`defs` with the freshness policies of the marts and the maintenance assets."""
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: dg.apply_freshness_policy(spec, MARTS_POLICY), selection=MARTS
    )
    return defs.map_resolved_asset_specs(
        func=lambda spec: dg.apply_freshness_policy(spec, MAINTENANCE_POLICY),
        selection=MAINTENANCE,
    )


def _criteria(source: Mapping[str, Any]) -> str | None:
    """dbt's freshness of a source in words ("warn after 2 hour, error after 24 hour"), or None
    when the source declares none (no threshold, or no loaded_at_field to measure)."""
    freshness = source.get("freshness") or {}
    parts = [
        f"{label} after {rule['count']} {rule['period']}"
        for label, rule in (
            ("warn", freshness.get("warn_after") or {}),
            ("error", freshness.get("error_after") or {}),
        )
        if rule.get("count") and rule.get("period")
    ]
    measured = source.get("loaded_at_field") or source.get("loaded_at_query")
    return ", ".join(parts) if parts and measured else None


#: What dbt reports as the newest load time of an empty table.
_NOTHING_LOADED = "0001-01-01"


def _check_result(
    key: dg.AssetKey, result: Mapping[str, Any] | None, failure: str
) -> dg.AssetCheckResult:
    """One source's entry of dbt's sources.json as a check result (None: dbt gave none, for
    the reason `failure`)."""
    if result is None:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=SOURCE_FRESHNESS_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"dbt source freshness gave no result for this source: {failure}"[:2000],
        )
    status = result["status"]
    metadata: dict[str, Any] = {"status": status}
    if str(result.get("max_loaded_at") or "").startswith(_NOTHING_LOADED):
        # An empty table (dbt's max is year 1): nothing received yet is not a stale pipeline,
        # and a server that sends no HTTP logs or metrics must not fail every observation.
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=SOURCE_FRESHNESS_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="dbt source freshness: no rows received yet",
            metadata=metadata,
        )
    if result.get("max_loaded_at"):
        metadata["max_loaded_at"] = dg.MetadataValue.text(result["max_loaded_at"])
        metadata["age_hours"] = round(result["max_loaded_at_time_ago_in_s"] / 3600, 2)
    if result.get("criteria"):
        metadata["criteria"] = dg.MetadataValue.json(result["criteria"])
    if result.get("error"):
        metadata["error"] = dg.MetadataValue.text(str(result["error"]))
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=SOURCE_FRESHNESS_CHECK,
        passed=status == "pass",
        severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
        description=f"dbt source freshness: {status}",
        metadata=metadata,
    )


def source_freshness_checks(dbt_models: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    """The `source_freshness` checks of the raw tables whose dbt source declares freshness.

    One multi-check (empty list when no source declares freshness); running it for a subset of
    tables runs `dbt source freshness --select source:...` once for them. Reads the manifest
    behind `dbt_models`, no database.
    """
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([dbt_models])
    sources: dict[dg.AssetKey, tuple[str, str]] = {}
    specs = []
    for unique_id, source in sorted(manifest["sources"].items()):
        criteria = _criteria(source)
        if criteria is None:
            continue
        key = translator.get_asset_key(source)
        sources[key] = (unique_id, f"source:{source['source_name']}.{source['name']}")
        specs.append(
            dg.AssetCheckSpec(
                SOURCE_FRESHNESS_CHECK,
                asset=key,
                description=f"dbt source freshness of the newest {source.get('loaded_at_field')}"
                f": {criteria} (dbt_project/models/staging/_mcp__sources.yml).",
            )
        )

    def command(keys: Sequence[dg.AssetKey]) -> list[str]:
        return ["source", "freshness", "--select", " ".join(sources[key][1] for key in keys)]

    def verdicts(
        keys: Sequence[dg.AssetKey],
        results: list[Mapping[str, Any]],
        error: BaseException | None,
    ) -> Iterator[dg.AssetCheckResult]:
        by_id = {r["unique_id"]: r for r in results}
        # dbt leaves a source it could not measure out of sources.json: say why
        missing = any(sources[key][0] not in by_id for key in keys)
        failure = str(error or "not in sources.json") if missing else ""
        for key in keys:
            yield _check_result(key, by_id.get(sources[key][0]), failure)

    return dbt_verdict_checks(
        "dbt_source_freshness",
        specs,
        manifest=manifest,
        translator=translator,
        command=command,
        artifact="sources.json",
        verdicts=verdicts,
    )

"""The marts' exactness over their whole history, checked once a day.

Every `dbt build` (the hourly job and the dirty-ledger sensor) runs each mart's exactness tests
(dbt_project/tests/marts/) on the buckets that build rebuilt plus a small sample, and the
generic tests tagged `rebuilt_rows` (a mart's grain, not_null, accepted_values) on the rows it
rebuilt, so a build's checks cost what changed. The daily maintenance job runs the same tests
over the whole history (dbt var `mart_exactness_scope: full`: the exactness tests within raw
retention, the generic tests over the whole table): the check `exact_over_history` on each mart
that has such tests, reporting dbt's verdict per test. A wrong value, a duplicate or a null in
a bucket no build has rebuilt since it went wrong is found there within a day.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from mcp_analytics.orchestration.defs.maintenance import RETENTION
from mcp_analytics.orchestration.lib.dbt_checks import dbt_verdict_checks

#: Name of the check on each mart.
EXACTNESS_CHECK = "exact_over_history"
#: Where the exactness tests live in the dbt project.
TESTS_PATH = "tests/marts/"
#: The tag of the generic tests a build runs on the rows it rebuilt (where: __rebuilt_rows__).
REBUILT_ROWS_TAG = "rebuilt_rows"
#: The dbt vars of the whole-history run.
FULL_SCOPE = {"mart_exactness_scope": "full"}


def _is_checked_daily(node: Mapping[str, Any]) -> bool:
    """A test of the daily run: an exactness test (tests/marts/) or a generic test tagged
    rebuilt_rows."""
    if node["resource_type"] != "test":
        return False
    if node["original_file_path"].replace("\\", "/").startswith(TESTS_PATH):
        return True
    tags = set(node.get("tags") or ()) | set((node.get("config") or {}).get("tags") or ())
    return REBUILT_ROWS_TAG in tags and "test_metadata" in node


def _mart_tests(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """{model unique_id: [names of its tests of the daily run]}: a test counts for the mart its
    `meta.dagster.ref` names (a check built from other marts refs them too), else the model a
    generic test is attached to, else each model it refs."""
    tests: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        if not _is_checked_daily(node):
            continue
        models = [m for m in node["depends_on"]["nodes"] if m.startswith("model.")]
        attached = ((node.get("config") or {}).get("meta") or {}).get("dagster", {}).get("ref")
        if attached:
            models = [m for m in models if m.rsplit(".", 1)[-1] == attached["name"]] or models
        elif node.get("attached_node"):
            models = [node["attached_node"]]
        for model in models:
            tests.setdefault(model, []).append(node["name"])
    return {model: sorted(names) for model, names in sorted(tests.items())}


def _check_result(
    key: dg.AssetKey,
    tests: list[str],
    generic: set[str],
    results: Mapping[str, Mapping[str, Any]],
    failure: str,
) -> dg.AssetCheckResult:
    """One mart's verdict from dbt's results of its tests, by test name (`generic`: the
    generic ones, whose failing rows are duplicates or nulls, not differences; `failure`: why
    dbt gave none)."""
    statuses = {name: results[name]["status"] if name in results else "none" for name in tests}
    failing = {
        name: int(results[name].get("failures") or 0) for name in tests if statuses[name] == "fail"
    }
    broken = [name for name in tests if statuses[name] not in ("pass", "fail")]
    if not failing and not broken:
        description = f"exact over the whole history ({len(tests)} dbt tests)"
    else:
        parts = [
            f"{name}: {rows} rows " + ("fail" if name in generic else "differ")
            for name, rows in failing.items()
        ]
        parts += [
            f"{name}: {statuses[name]}"
            + (f" ({results[name].get('message')})" if name in results else f" ({failure})")
            for name in broken
        ]
        description = "; ".join(parts)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=EXACTNESS_CHECK,
        passed=not failing and not broken,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description[:2000],
        metadata={
            "tests": dg.MetadataValue.json(statuses),
            "rows_differing": sum(n for name, n in failing.items() if name not in generic),
            "rows_failing_generic_tests": sum(n for name, n in failing.items() if name in generic),
            "scope": dg.MetadataValue.json(FULL_SCOPE),
        },
    )


def marts_exactness_checks(dbt_models: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    """The `exact_over_history` checks of the marts that have exactness tests or generic tests
    tagged rebuilt_rows.

    One multi-check (empty list when no mart has such tests); running it for a subset of marts
    runs `dbt test --select <their tests> --vars '{mart_exactness_scope: full}'` once. It comes
    after retention in a run (retention moves the horizon the tests compare from). Reads the
    manifest behind `dbt_models`, no database.
    """
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([dbt_models])
    generic = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and "test_metadata" in node
    }
    tests_of: dict[dg.AssetKey, list[str]] = {}
    specs = []
    for model, names in _mart_tests(manifest).items():
        key = translator.get_asset_key(manifest["nodes"][model])
        tests_of[key] = names
        exactness = [name for name in names if name not in generic]
        scoped = [name for name in names if name in generic]
        what = []
        if exactness:
            what.append(
                "equals a recomputation from the raw rows over its whole history within raw "
                f"retention (dbt tests {', '.join(exactness)})"
            )
        if scoped:
            what.append(f"passes its generic tests over the whole table ({', '.join(scoped)})")
        specs.append(
            dg.AssetCheckSpec(
                EXACTNESS_CHECK,
                asset=key,
                additional_deps=[RETENTION],
                description=f"The mart {' and '.join(what)}, with mart_exactness_scope full "
                "(every build checks only what it rebuilt, and a sample).",
            )
        )

    def command(keys: Sequence[dg.AssetKey]) -> list[str]:
        selected = sorted({name for key in keys for name in tests_of[key]})
        return ["test", "--select", " ".join(selected), "--vars", json.dumps(FULL_SCOPE)]

    def verdicts(
        keys: Sequence[dg.AssetKey],
        results: list[Mapping[str, Any]],
        error: BaseException | None,
    ) -> Iterator[dg.AssetCheckResult]:
        by_test = {r["unique_id"].split(".")[2]: r for r in results}
        failure = "" if by_test else str(error or "no run_results.json")
        for key in keys:
            yield _check_result(key, tests_of[key], generic, by_test, failure)

    return dbt_verdict_checks(
        "marts_exact_over_history",
        specs,
        manifest=manifest,
        translator=translator,
        command=command,
        artifact="run_results.json",
        verdicts=verdicts,
    )

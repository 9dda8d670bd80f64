"""Asset checks whose verdicts are dbt's: one dbt invocation for the checks a run selects.

`dbt_verdict_checks` builds the multi-asset check of the daily exactness tests and of dbt's
source freshness: the selected checks' assets become one dbt command, run to its end by
`WarehouseDbtResource.artifact_results`, whose artifact (`run_results.json`, `sources.json`)
holds the verdicts the check reports.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from mcp_analytics.orchestration.lib.dbt_resource import WarehouseDbtResource

#: The checks' results from the selected assets, dbt's verdicts and its error (None when dbt
#: ran to its end).
Verdicts = Callable[
    [Sequence[dg.AssetKey], list[Mapping[str, Any]], BaseException | None],
    Iterator[dg.AssetCheckResult],
]


def dbt_verdict_checks(
    name: str,
    specs: Sequence[dg.AssetCheckSpec],
    *,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    command: Callable[[Sequence[dg.AssetKey]], list[str]],
    artifact: str,
    verdicts: Verdicts,
) -> list[dg.AssetChecksDefinition]:
    """The multi-asset check `name` over `specs` (an empty list when there are none).

    A run of it for some of its assets runs `dbt <command(their keys)>` once and yields
    `verdicts(keys, the artifact's results, dbt's error)`: one AssetCheckResult per selected
    check.
    """
    if not specs:
        return []

    @dg.multi_asset_check(specs=list(specs), can_subset=True, name=name)
    def dbt_verdicts(
        context: dg.AssetCheckExecutionContext, dbt: WarehouseDbtResource
    ) -> Iterator[dg.AssetCheckResult]:
        keys = [check.asset_key for check in context.selected_asset_check_keys]
        results, error = dbt.artifact_results(
            command(keys), artifact, manifest=manifest, dagster_dbt_translator=translator
        )
        yield from verdicts(keys, results, error)

    return [dbt_verdicts]

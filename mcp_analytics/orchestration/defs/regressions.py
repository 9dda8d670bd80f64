"""Release regressions as Dagster checks on `marts/tool_regressions`, run by the hourly build.

Two checks, one per comparison of the mart (docs/analytics.md, "Release regressions"):
`no_release_regression` (each server's newest version against the one before) and
`no_week_over_week_regression` (every tool's last 7 days against the 7 before). Each warns
(severity WARN: a regression is news for the server's owner, not a broken pipeline) when the
mart lists a tool, with one metadata entry per regressed tool holding its figures.
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from mcp_analytics.analytics.regressions import (
    COMPARISONS,
    Regression,
    RegressionsNotBuiltError,
    read_regressions,
)
from mcp_analytics.orchestration.defs.resources import PostgresResource

#: The mart the checks read.
TOOL_REGRESSIONS = dg.AssetKey(["marts", "tool_regressions"])
#: Tools listed in a check's metadata at most (the count is always complete).
MAX_TOOLS = 100


def check_name(comparison: str) -> str:
    """`no_release_regression`, `no_week_over_week_regression`."""
    return f"no_{comparison}_regression"


def _result(comparison: str, found: list[Regression]) -> dg.AssetCheckResult:
    by_tool: dict[str, list[Regression]] = defaultdict(list)
    for regression in found:
        by_tool[regression.tool].append(regression)
    metadata: dict[str, dg.RawMetadataValue] = {"regressed_tools": len(by_tool)}
    for tool in sorted(by_tool)[:MAX_TOOLS]:
        metadata[tool] = dg.MetadataValue.json([r.figures() for r in by_tool[tool]])
    lines = [r.describe() for r in found]
    description = "; ".join(lines) if lines else f"no {comparison} regression"
    return dg.AssetCheckResult(
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        description=description[:2000],
        metadata=metadata,
    )


def _check(comparison: str) -> dg.AssetChecksDefinition:
    what = (
        "each MCP server's newest version against the one before"
        if comparison == "release"
        else "every tool's last 7 UTC days against the 7 before"
    )

    @dg.asset_check(
        asset=TOOL_REGRESSIONS,
        name=check_name(comparison),
        description=f"No tool got worse, {what}: error rate higher at p < alpha or p95 above "
        "max_p95_ratio times, with min_calls calls on each side (system_configuration "
        "analytics.regressions). Warns with each regressed tool's figures.",
    )
    def check(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.connection() as conn:
            try:
                found = read_regressions(conn, comparison)
            except RegressionsNotBuiltError as err:
                return dg.AssetCheckResult(
                    passed=False, severity=dg.AssetCheckSeverity.WARN, description=str(err)
                )
        return _result(comparison, found)

    return check


REGRESSION_CHECKS = [_check(comparison) for comparison in COMPARISONS]

"""The scheduled tool inventory: `inventory/snapshots` reads what each configured MCP server
advertises (what `mcp-analytics inventory snapshot` does, `source` = schedule).

The servers are system_configuration `analytics.inventory_servers` (bootstrap_sql/115): a list
of `{"url": ...}` or `{"command": ..., "env": {...}}` entries, each with an optional
`timeout` in seconds; empty by default, when the asset records nothing. Every server is tried;
one that cannot be read is stored as a failed snapshot and, once the others are recorded,
fails the run naming it. Metadata: servers configured and reached, tools seen, what changed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from mcp_analytics.analytics.inventory import (
    DEFAULT_TIMEOUT_S,
    InventoryError,
    changes,
    endpoint_label,
    snapshot,
    targets_from_config,
)
from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.resources import PostgresResource

GROUP = "inventory"
INVENTORY_SNAPSHOTS = dg.AssetKey([GROUP, "snapshots"])
CONFIG_KEY = "analytics.inventory_servers"
#: hourly, a few minutes before the hourly build (at :10 by default) reads the inventory
INVENTORY_CRON = "5 * * * *"


@dataclass(frozen=True)
class ServerResult:
    """What one configured server gave: its own name and counts, or the error."""

    endpoint: str
    bcp_name: str | None = None
    tools: int = 0
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    error: str | None = None


def _timeouts(value: Any) -> list[float]:
    """The timeout of each entry of the configuration (DEFAULT_TIMEOUT_S when not given)."""
    out = []
    for entry in value if isinstance(value, list) else []:
        timeout = entry.get("timeout") if isinstance(entry, Mapping) else None
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            out.append(float(timeout))
        else:
            out.append(DEFAULT_TIMEOUT_S)
    return out


def snapshot_configured(postgres: PostgresResource) -> list[ServerResult]:
    """Snapshot every server of `analytics.inventory_servers`, in order; a server that cannot
    be read is recorded as a failed snapshot and reported in its result.

    Raises:
        InventoryError: the configuration is not a list of servers (names the bad entry).
    """
    results: list[ServerResult] = []
    with postgres.connection() as conn:
        row = conn.execute(
            "select config_value from system_configuration where config_key = %s", (CONFIG_KEY,)
        ).fetchone()
        value = row[0] if row else None
        targets = targets_from_config(value)
        for target, timeout in zip(targets, _timeouts(value), strict=True):
            endpoint = endpoint_label(target)
            try:
                snapshot_id, inventory = snapshot(conn, target, source="schedule", timeout=timeout)
            except InventoryError as err:
                results.append(ServerResult(endpoint, error=str(err)))
                continue
            diff = changes(conn, snapshot_id)
            results.append(
                ServerResult(
                    endpoint,
                    bcp_name=inventory.bcp_name,
                    tools=len(inventory.of_kind("tool")),
                    new=diff.new,
                    changed=diff.changed,
                    removed=diff.removed,
                )
            )
    return results


def _report(results: list[ServerResult]) -> str:
    lines = ["| server | endpoint | tools | new | changed | removed | error |", "|---" * 7 + "|"]
    for r in results:
        cells = [
            r.bcp_name or "-",
            r.endpoint,
            str(r.tools),
            ", ".join(r.new) or "-",
            ", ".join(r.changed) or "-",
            ", ".join(r.removed) or "-",
            (r.error or "-").replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dg.asset(
    key=INVENTORY_SNAPSHOTS,
    group_name=GROUP,
    kinds={"postgres"},
    description="What each MCP server of system_configuration analytics.inventory_servers "
    "advertises (tools/list, prompts/list, resources/list): each definition stored with its "
    "fingerprint under the server's own name (mcp_inventory_snapshots, "
    "mcp_definition_versions), read by the marts tool_definition_history and tool_inventory. "
    "A server that cannot be read is recorded as a failed snapshot and fails the run, naming "
    "it, after the others are stored.",
)
def inventory_snapshots(
    context: AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    try:
        results = snapshot_configured(postgres)
    except InventoryError as err:
        raise dg.Failure(f"system_configuration {CONFIG_KEY}: {err}") from None
    reached = [r for r in results if r.error is None]
    failed = [r for r in results if r.error is not None]
    metadata: dict[str, Any] = {
        "servers_configured": dg.MetadataValue.int(len(results)),
        "servers_reached": dg.MetadataValue.int(len(reached)),
        "servers_failed": dg.MetadataValue.int(len(failed)),
        "tools_seen": dg.MetadataValue.int(sum(r.tools for r in reached)),
        "changes": dg.MetadataValue.int(
            sum(len(r.new) + len(r.changed) + len(r.removed) for r in reached)
        ),
        "servers": dg.MetadataValue.md(_report(results) if results else "no server configured"),
    }
    for r in reached:
        context.log.info(
            f"{r.bcp_name} ({r.endpoint}): {r.tools} tools, {len(r.new)} new, "
            f"{len(r.changed)} changed, {len(r.removed)} removed"
        )
    if failed:
        names = "; ".join(f"{r.endpoint}: {r.error}" for r in failed)
        raise dg.Failure(
            description=f"{len(failed)} of {len(results)} MCP server(s) could not be read "
            f"(the others are recorded): {names}",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


INVENTORY_JOB = dg.define_asset_job(
    "inventory_snapshots",
    selection=dg.AssetSelection.assets(INVENTORY_SNAPSHOTS),
    description="Snapshot what the MCP servers of analytics.inventory_servers advertise.",
)


def build_inventory_schedule() -> dg.ScheduleDefinition:
    """The hourly inventory schedule (INVENTORY_CRON, in settings' schedule time zone)."""
    return dg.ScheduleDefinition(
        name="inventory_snapshots_schedule",
        job=INVENTORY_JOB,
        cron_schedule=INVENTORY_CRON,
        execution_timezone=settings().schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )

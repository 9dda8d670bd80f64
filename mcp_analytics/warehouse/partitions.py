"""Partition upkeep: the one driver of `create_monthly_partitions()` (bootstrap_sql/004).

`mcp-analytics partitions`, the Dagster asset `maintenance/partition_upkeep` and the demo call
`upkeep_partitions()`; the dbt macro `create_monthly_partitions` is a thin call of the SQL
function for one table. The SQL function does the work (idempotent, moves rows waiting in the
DEFAULT partition); this module picks the tables, commits each on its own and reports.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from mcp_analytics.warehouse.notices import (
    Notice,
    database_error,
    relay_notices,
    require_autocommit,
)
from mcp_analytics.warehouse.report import MetadataValue, Total, elapsed_ms
from mcp_analytics.warehouse.tables import (
    default_partition_rows,
    partition_count,
    partitioned_tables,
)

#: Bounds `create_monthly_partitions()` enforces on months_ahead and months_behind.
MAX_MONTHS = 120
#: Upkeep's defaults for the CLI, Dagster's partition_upkeep and the driver: a warehouse
#: bootstrapped this month has no partition for the last one, so late rows of the last month's
#: final days would wait in DEFAULT (and fail its check) until upkeep made it.
DEFAULT_MONTHS_AHEAD = 3
DEFAULT_MONTHS_BEHIND = 1


class PartitionError(RuntimeError):
    """The database refused (unknown or unpartitioned table, bad bounds): a message to show.

    `report` holds the tables already committed before the failing one (None before any).
    """

    def __init__(self, message: str, report: PartitionReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class PartitionResult:
    """Upkeep of one table: partitions created, rows moved out of DEFAULT, totals after."""

    table: str
    created: int
    partitions: int
    rows_moved: int
    rows_in_default: int


@dataclass(frozen=True)
class PartitionReport:
    """Partition upkeep of one run (CLI output and Dagster metadata)."""

    results: tuple[PartitionResult, ...]
    months_ahead: int
    months_behind: int
    duration_ms: int

    created = Total("created")

    def describe(self) -> str:
        """One line per table, e.g. `public.tool_usage_logs: 2 partition(s) created, 7 in all`."""
        lines = []
        for r in self.results:
            line = f"{r.table}: {r.created} partition(s) created, {r.partitions} in all"
            if r.rows_moved:
                line += f", {r.rows_moved} row(s) moved out of DEFAULT"
            if r.rows_in_default:
                line += f", {r.rows_in_default} row(s) still in DEFAULT"
            lines.append(line)
        lines.append(
            f"total: {self.created} partition(s) created in {len(self.results)} table(s)"
            f" (current month, {self.months_ahead} ahead, {self.months_behind} behind)"
        )
        return "\n".join(lines)

    def as_metadata(self) -> dict[str, MetadataValue]:
        """`partitions_created`, `duration_ms`, and per table `partitions_created/<t>`,
        `rows_moved_from_default/<t>`, `rows_in_default/<t>`, `partitions/<t>`."""
        metadata: dict[str, MetadataValue] = {}
        for r in self.results:
            name = r.table.removeprefix("public.")
            metadata[f"partitions_created/{name}"] = r.created
            metadata[f"rows_moved_from_default/{name}"] = r.rows_moved
            metadata[f"rows_in_default/{name}"] = r.rows_in_default
            metadata[f"partitions/{name}"] = r.partitions
        metadata["partitions_created"] = self.created
        metadata["duration_ms"] = self.duration_ms
        return metadata


def upkeep_partitions(
    conn: psycopg.Connection,
    tables: Sequence[str] | None = None,
    *,
    months_ahead: int = DEFAULT_MONTHS_AHEAD,
    months_behind: int = DEFAULT_MONTHS_BEHIND,
    on_notice: Notice | None = None,
) -> PartitionReport:
    """Create the monthly partitions of `tables` for the current UTC month, `months_ahead`
    months after it and `months_behind` before it; one transaction per table.

    Args:
        conn: an autocommit connection (each table is committed on its own).
        tables: `[schema.]table` names; None means the registry's partitioned tables.
        months_ahead, months_behind: 0..120 months (defaults DEFAULT_MONTHS_AHEAD 3 and
            DEFAULT_MONTHS_BEHIND 1).
        on_notice: receives the database's NOTICEs (partitions created, rows moved).

    Returns:
        A PartitionReport with one result per table, in the order given.

    Raises:
        PartitionError: a bad argument, or the database refused a table (`report` lists the
            tables done before it; the failing one is unchanged).
    """
    for label, value in (("months_ahead", months_ahead), ("months_behind", months_behind)):
        if not 0 <= value <= MAX_MONTHS:
            raise PartitionError(f"{label} must be between 0 and {MAX_MONTHS}, got {value}")
    require_autocommit(conn, "partition upkeep", PartitionError)
    names = list(tables) if tables is not None else [t.qualified_name for t in partitioned_tables()]
    started = time.monotonic()
    results: list[PartitionResult] = []
    with relay_notices(conn, on_notice):
        for table in names:
            try:
                with conn.transaction():
                    before = default_partition_rows(conn, table)
                    row = conn.execute(
                        "select create_monthly_partitions(%s, %s, %s)",
                        (table, months_ahead, months_behind),
                    ).fetchone()
                    after = default_partition_rows(conn, table)
                    count = partition_count(conn, table)
            except psycopg.Error as err:
                done = PartitionReport(
                    tuple(results),
                    months_ahead,
                    months_behind,
                    elapsed_ms(started, time.monotonic()),
                )
                raise PartitionError(database_error(err), done if results else None) from None
            created = int(row[0]) if row else 0
            results.append(PartitionResult(table, created, count, before - after, after))
    return PartitionReport(
        tuple(results), months_ahead, months_behind, elapsed_ms(started, time.monotonic())
    )

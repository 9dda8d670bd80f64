"""Maintenance assets, run daily in this order: partition upkeep -> retention -> archive export.

Each asset calls the one driver of its operation in `mcp_analytics.warehouse` (the same as the
CLI's `partitions`, `retention` and `archive export`) and records its report: the numbers of
`as_metadata()` (plotted over runs) and the text of `describe()`.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.dbt_assets import WAREHOUSE_POOL, raw_key
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.archive import ArchiveError, export_archives
from mcp_analytics.warehouse.partitions import (
    DEFAULT_MONTHS_AHEAD,
    DEFAULT_MONTHS_BEHIND,
    PartitionError,
    upkeep_partitions,
)
from mcp_analytics.warehouse.report import OperationReport
from mcp_analytics.warehouse.retention import RetentionError, apply_retention
from mcp_analytics.warehouse.tables import partitioned_tables

GROUP = "maintenance"
PARTITION_UPKEEP = dg.AssetKey([GROUP, "partition_upkeep"])
RETENTION = dg.AssetKey([GROUP, "retention"])
ARCHIVE_EXPORT = dg.AssetKey([GROUP, "archive_export"])


class ArchiveResource(dg.ConfigurableResource):
    """Where archived partitions go as Parquet files (default: settings().archive_dir)."""

    directory: str | None = Field(default=None, description="folder for the Parquet files")

    def path(self) -> Path:
        return Path(self.directory) if self.directory else Path(settings().archive_dir or ".")


# A config's fields are its driver's keyword arguments (passed as they are).
class PartitionUpkeepConfig(dg.Config):
    months_ahead: int = Field(
        default=DEFAULT_MONTHS_AHEAD, description="months created past the current one"
    )
    months_behind: int = Field(
        default=DEFAULT_MONTHS_BEHIND,
        description="months created before the current one (late rows of last month)",
    )


class RetentionConfig(dg.Config):
    dry_run: bool = Field(default=False, description="report what would go, change nothing")


def maintenance_asset(
    key: dg.AssetKey,
    *,
    deps: Sequence[dg.AssetKey],
    description: str,
    kinds: frozenset[str] = frozenset({"postgres"}),
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The decorator of a maintenance asset: group `maintenance`, one run at a time in the
    warehouse pool (its locks would stall the others), after `deps`."""
    return dg.asset(
        key=key,
        group_name=GROUP,
        deps=list(deps),
        pool=WAREHOUSE_POOL,
        kinds=set(kinds),
        description=description,
    )


def report_metadata(report: OperationReport) -> dict[str, Any]:
    """The report's numbers, and its text as a code block (what the CLI prints)."""
    metadata: dict[str, Any] = dict(report.as_metadata())
    metadata["report"] = dg.MetadataValue.md(f"```\n{report.describe()}\n```")
    return metadata


def _failure(err: RetentionError | PartitionError | ArchiveError) -> dg.Failure:
    """A Dagster failure that still records what the run finished before it stopped."""
    done = err.report
    return dg.Failure(str(err), metadata=report_metadata(done) if done is not None else None)


R = TypeVar("R", bound=OperationReport)


def _run(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    driver: Callable[..., R],
    **options: Any,
) -> R:
    """`driver(conn, on_notice=<the run's log>, **options)` on a warehouse connection; its
    error becomes a Dagster failure that carries the partial report."""
    with postgres.connection() as conn:
        try:
            return driver(conn, on_notice=context.log.info, **options)
        except (RetentionError, PartitionError, ArchiveError) as err:
            raise _failure(err) from None


@maintenance_asset(
    PARTITION_UPKEEP,
    deps=[raw_key(t.name) for t in partitioned_tables()],
    description="Creates the monthly partitions of the previous month, the current one and "
    "the next ones (create_monthly_partitions), moving rows that wait in the DEFAULT partitions.",
)
def partition_upkeep(
    context: AssetExecutionContext, config: PartitionUpkeepConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    report = _run(context, postgres, upkeep_partitions, **config.model_dump())
    return dg.MaterializeResult(metadata=report_metadata(report))


@maintenance_asset(
    RETENTION,
    deps=[PARTITION_UPKEEP],  # and every mart: see retention_after()
    description="Applies data_retention_policies (apply_retention): expired partitions are "
    "detached (and archived first where the policy says so), other tables cleaned in batches. "
    "Runs after the marts so that they summarise rows before the rows go; refuses a policy not "
    "longer than the marts' late-data window.",
)
def retention(
    context: AssetExecutionContext, config: RetentionConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    report = _run(
        context,
        postgres,
        apply_retention,
        lock_timeout_seconds=postgres.lock_timeout_seconds,
        **config.model_dump(),
    )
    context.log.info(
        f"retention: {report.rows_deleted} rows deleted, {report.rows_archived} archived"
    )
    return dg.MaterializeResult(metadata=report_metadata(report))


def retention_after(marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """`retention`, downstream of `marts` too: they summarise raw rows before the rows go.

    The mart keys come from the dbt manifest, known only when the definitions are built.
    """
    return retention.map_asset_specs(lambda spec: spec.merge_attributes(deps=list(marts)))


@maintenance_asset(
    ARCHIVE_EXPORT,
    deps=[RETENTION],
    kinds=frozenset({"parquet"}),
    description="Writes every archived table not yet exported to zstd Parquet, reads it back "
    "and verifies row count and key checksum, then drops it from the archive schema.",
)
def archive_export(
    context: AssetExecutionContext, postgres: PostgresResource, archive: ArchiveResource
) -> dg.MaterializeResult:
    report = _run(context, postgres, export_archives, archive_dir=archive.path())
    metadata = report_metadata(report)
    metadata["archive_dir"] = dg.MetadataValue.path(str(report.directory))
    return dg.MaterializeResult(metadata=metadata)

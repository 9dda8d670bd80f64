"""Maintenance assets, run daily in this order: partition upkeep -> retention -> archive export.

Each reports what it did as materialization metadata (partitions created, rows moved out of
DEFAULT, rows archived/deleted per table, files written, durations).
"""

import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.dbt_assets import WAREHOUSE_POOL, raw_key
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.archive import export_pending
from mcp_analytics.warehouse.tables import (
    PARTITIONED_TABLES,
    default_partition_rows,
    partition_count,
)

GROUP = "maintenance"
PARTITION_UPKEEP = dg.AssetKey([GROUP, "partition_upkeep"])
RETENTION = dg.AssetKey([GROUP, "retention"])
ARCHIVE_EXPORT = dg.AssetKey([GROUP, "archive_export"])


class ArchiveResource(dg.ConfigurableResource):
    """Where archived partitions go as Parquet files (default: settings().archive_dir)."""

    directory: str | None = Field(default=None, description="folder for the Parquet files")

    def path(self) -> Path:
        return Path(self.directory) if self.directory else Path(settings().archive_dir or ".")


class PartitionUpkeepConfig(dg.Config):
    months_ahead: int = Field(default=3, description="months created past the current one")


class RetentionConfig(dg.Config):
    dry_run: bool = Field(default=False, description="report what would go, change nothing")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@dg.asset(
    key=PARTITION_UPKEEP,
    group_name=GROUP,
    deps=[raw_key(t) for t in PARTITIONED_TABLES],
    pool=WAREHOUSE_POOL,
    kinds={"postgres"},
    description="Creates the monthly partitions of the current month and the next ones "
    "(create_monthly_partitions), moving rows that wait in the DEFAULT partitions.",
)
def partition_upkeep(
    context: AssetExecutionContext, config: PartitionUpkeepConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    started = time.monotonic()
    metadata: dict[str, dg.RawMetadataValue] = {}
    total = 0
    with postgres.connection() as conn:
        for table in PARTITIONED_TABLES:
            before = default_partition_rows(conn, table)
            created = conn.execute(
                "select create_monthly_partitions(%s, %s)", (table, config.months_ahead)
            ).fetchone()[0]
            after = default_partition_rows(conn, table)
            context.log.info(f"{table}: {created} partitions created, {before - after} rows moved")
            total += created
            metadata[f"partitions_created/{table}"] = created
            metadata[f"rows_moved_from_default/{table}"] = before - after
            metadata[f"rows_in_default/{table}"] = after
            metadata[f"partitions/{table}"] = partition_count(conn, table)
    metadata["partitions_created"] = total
    metadata["duration_ms"] = _ms(started)
    return dg.MaterializeResult(metadata=metadata)


RETENTION_COLUMNS = (
    "table_name", "action", "partitions_detached", "rows_archived", "rows_deleted",
    "cutoff", "duration_ms", "dry_run", "detail",
)  # fmt: skip


@dg.asset(
    key=RETENTION,
    group_name=GROUP,
    deps=[PARTITION_UPKEEP],  # and every mart: see retention_after()
    pool=WAREHOUSE_POOL,
    kinds={"postgres"},
    description="Applies data_retention_policies (apply_retention): expired partitions are "
    "detached (and archived first where the policy says so), other tables cleaned in batches. "
    "Runs after the marts so that they summarise rows before the rows go.",
)
def retention(
    context: AssetExecutionContext, config: RetentionConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    from mcp_analytics.orchestration.defs.checks import retention_horizon_problems

    started = time.monotonic()
    with postgres.warehouse_lock(context.log) as conn:
        problems = retention_horizon_problems(conn)
        if problems and not config.dry_run:
            raise dg.Failure(
                "retention refused: " + "; ".join(problems),
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
        # Policies are all validated first (an error changes nothing); then one transaction
        # per table (autocommit), so a table's ACCESS EXCLUSIVE lock for detaching partitions
        # is held only while that table is processed. Our session keeps the warehouse lock
        # throughout, so no build runs in between.
        tables = [r[0] for r in conn.execute("select * from retention_policy_tables()")]
        rows = []
        for table in tables:
            cur = conn.execute(
                "select table_name, action, partitions_detached, rows_archived, rows_deleted,"
                " cutoff, duration_ms, dry_run, detail from apply_retention(%s, %s)",
                (config.dry_run, table),
            )
            rows += [dict(zip(RETENTION_COLUMNS, row, strict=True)) for row in cur.fetchall()]
    metadata: dict[str, dg.RawMetadataValue] = {"dry_run": config.dry_run}
    lines = ["| table | action | partitions detached | rows archived | rows deleted | ms |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        table = row["table_name"]
        metadata[f"rows_deleted/{table}"] = int(row["rows_deleted"] or 0)
        metadata[f"rows_archived/{table}"] = int(row["rows_archived"] or 0)
        metadata[f"partitions_detached/{table}"] = int(row["partitions_detached"] or 0)
        lines.append(
            f"| {table} | {row['action']} | {row['partitions_detached'] or 0} |"
            f" {row['rows_archived'] or 0} | {row['rows_deleted'] or 0} | {row['duration_ms']} |"
        )
    metadata["rows_deleted"] = sum(int(r["rows_deleted"] or 0) for r in rows)
    metadata["rows_archived"] = sum(int(r["rows_archived"] or 0) for r in rows)
    metadata["policies"] = dg.MetadataValue.md("\n".join(lines))
    metadata["duration_ms"] = _ms(started)
    context.log.info(
        f"retention: {metadata['rows_deleted']} rows deleted, {metadata['rows_archived']} archived"
    )
    return dg.MaterializeResult(metadata=metadata)


def retention_after(marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """`retention`, downstream of `marts` too: they summarise raw rows before the rows go.

    The mart keys come from the dbt manifest, known only when the definitions are built.
    """
    return retention.map_asset_specs(lambda spec: spec.merge_attributes(deps=list(marts)))


@dg.asset(
    key=ARCHIVE_EXPORT,
    group_name=GROUP,
    deps=[RETENTION],
    pool=WAREHOUSE_POOL,
    kinds={"parquet"},
    description="Writes every archived table not yet exported to zstd Parquet, reads it back "
    "and verifies row count and key checksum, then drops it from the archive schema.",
)
def archive_export(
    context: AssetExecutionContext, postgres: PostgresResource, archive: ArchiveResource
) -> dg.MaterializeResult:
    started = time.monotonic()
    directory = archive.path()
    with postgres.connection() as conn:
        results = export_pending(conn, directory)
    lines = ["| archived table | rows | bytes | file |", "|---|---|---|---|"]
    metadata: dict[str, dg.RawMetadataValue] = {}
    for res in results:
        context.log.info(f"exported {res.archive_table}: {res.rows} rows -> {res.path}")
        lines.append(f"| {res.archive_table} | {res.rows} | {res.bytes} | {res.path} |")
        key = f"rows_exported/{res.source_table}"
        metadata[key] = int(metadata.get(key, 0)) + res.rows  # type: ignore[arg-type]
    metadata["tables_exported"] = len(results)
    metadata["rows_exported"] = sum(r.rows for r in results)
    metadata["bytes_written"] = sum(r.bytes for r in results)
    metadata["archive_dir"] = dg.MetadataValue.path(str(directory))
    metadata["files"] = dg.MetadataValue.md("\n".join(lines))
    metadata["duration_ms"] = _ms(started)
    return dg.MaterializeResult(metadata=metadata)

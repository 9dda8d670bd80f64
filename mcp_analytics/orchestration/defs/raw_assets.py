"""The raw tables as observable source assets: upstream of the dbt sources.

One asset per table of the registry (`mcp_analytics.warehouse.tables.RAW_TABLES`, which a test
keeps equal to the dbt sources). Observing records row counts, the newest and oldest value of
the table's time column, when the latest row arrived (`received_at`, set by the database), and
for partitioned tables the rows waiting in the DEFAULT partition, as metadata; the UI plots
them over time. Arrival, not the senders' event times, is what says the table is fresh: it is
the data version and Dagster's `dagster/last_updated_timestamp`.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from mcp_analytics.orchestration.defs.dbt_assets import RAW_PREFIX, raw_key
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.tables import RAW_TABLES, RawTable, table_stats


def _raw_spec(table: RawTable) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=raw_key(table.name),
        description=f"Raw table {table.qualified_name}: {table.description}",
        group_name=RAW_PREFIX,
        kinds={"postgres"},
        metadata={"dagster/table_name": table.qualified_name},
    )


def observe_metadata(postgres: PostgresResource, table: str) -> tuple[str, dict[str, Any]]:
    """(data version, metadata) of one raw table."""
    with postgres.connection() as conn:
        stats = table_stats(conn, table)
    if not stats.exists:
        return "missing", {"exists": dg.MetadataValue.bool(False)}
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(stats.row_count),
        "row_count": dg.MetadataValue.int(stats.row_count),
    }
    if stats.newest is not None:
        metadata["newest_timestamp"] = dg.MetadataValue.timestamp(stats.newest)
        metadata["oldest_timestamp"] = dg.MetadataValue.timestamp(stats.oldest)
    if stats.last_received is not None:
        metadata["last_received_at"] = dg.MetadataValue.timestamp(stats.last_received)
        metadata["dagster/last_updated_timestamp"] = dg.MetadataValue.timestamp(stats.last_received)
    if stats.default_partition_rows is not None:
        metadata["default_partition_rows"] = dg.MetadataValue.int(stats.default_partition_rows)
        metadata["partitions"] = dg.MetadataValue.int(stats.partitions or 0)
    # Row count and last arrival as the data version: an unchanged table is not "new data" (a
    # sender's clock cannot make it look new either). Tables without arrival time: newest time.
    latest = stats.last_received or stats.newest
    return f"{stats.row_count}:{latest.isoformat() if latest else ''}", metadata


def build_raw_tables() -> dg.AssetsDefinition:
    """The `raw_tables` observable source assets, one per table of the registry."""

    @dg.multi_observable_source_asset(
        specs=[_raw_spec(table) for table in RAW_TABLES],
        name="raw_tables",
        can_subset=True,
        required_resource_keys={"postgres"},
    )
    def raw_tables(context: AssetExecutionContext) -> Iterator[dg.ObserveResult]:
        postgres: PostgresResource = context.resources.postgres
        for key in context.selected_asset_keys:
            version, metadata = observe_metadata(postgres, key.path[-1])
            yield dg.ObserveResult(
                asset_key=key, metadata=metadata, data_version=dg.DataVersion(version)
            )

    return raw_tables

"""The daily backup: `maintenance/backup`, last step of the daily maintenance job.

It writes a full backup (`warehouse.backup.backup_and_rotate`, what `mcp-analytics backup` does)
after the archive export, so the manifest records the archive catalogue with the files that
day's export wrote, then keeps the newest N backups of its folder and reports their sizes.
"""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from mcp_analytics.config import settings
from mcp_analytics.orchestration.defs.maintenance import (
    ARCHIVE_EXPORT,
    GROUP,
    ArchiveResource,
    maintenance_asset,
    report_metadata,
)
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.backup import BackupError, backup_and_rotate

BACKUP = dg.AssetKey([GROUP, "backup"])


class BackupResource(dg.ConfigurableResource):
    """Where the daily backups go and how many are kept (defaults: MCPA_BACKUP_DIR, i.e.
    $MCPA_STATE_DIR/backups, and MCPA_BACKUP_KEEP, 7)."""

    directory: str | None = Field(default=None, description="folder of the backups")
    keep: int | None = Field(default=None, description="backups kept (the newest)")

    def path(self) -> Path:
        return Path(self.directory) if self.directory else settings().backup_dir

    def keep_count(self) -> int:
        return self.keep if self.keep is not None else settings().backup_keep


# Reads only, but its table locks would stall retention's detaches: one at a time.
@maintenance_asset(
    BACKUP,
    deps=[ARCHIVE_EXPORT],
    description="A full pg_dump backup of the warehouse with its manifest (rows per table, "
    "bootstrap ledger, archive catalogue and files, marts), then only the newest N backups "
    "of the folder are kept; reports the size of each. Restore: `mcp-analytics restore`.",
)
def backup(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    backups: BackupResource,
    archive: ArchiveResource,
) -> dg.MaterializeResult:
    cfg = settings()
    try:
        report = backup_and_rotate(
            postgres.url(),
            backups.path(),
            backups.keep_count(),
            archive_dir=archive.path(),
            prefer_embedded=cfg.uses_embedded and postgres.database_url is None,
        )
    except (BackupError, ValueError) as err:
        raise dg.Failure(f"backup failed: {err}") from None
    context.log.info(report.describe())
    metadata = report_metadata(report)
    metadata["backup_path"] = dg.MetadataValue.path(str(report.written.backup.dump))
    return dg.MaterializeResult(metadata=metadata)

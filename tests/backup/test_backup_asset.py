"""The daily backup asset, materialized by Dagster for real: it writes a backup with its
manifest, keeps the newest N of its folder and reports their sizes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from mcp_analytics.orchestration.defs.backup import BackupResource, backup
from mcp_analytics.orchestration.defs.maintenance import ArchiveResource
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.backup import list_backups

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def _materialize(url: str, directory: Path, keep: int) -> dict[str, Any]:
    result = dg.materialize(
        [backup],
        resources={
            "postgres": PostgresResource(database_url=url),
            "backups": BackupResource(directory=str(directory), keep=keep),
            "archive": ArchiveResource(directory=str(directory / "archive")),
        },
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    (event,) = result.get_asset_materialization_events()
    return dict(event.materialization.metadata)


def test_the_asset_keeps_the_newest_backups_and_reports_their_sizes(
    bootstrapped_db: str, tmp_path: Path
):
    folder = tmp_path / "backups"
    written = []
    for _ in range(3):
        meta = _materialize(bootstrapped_db, folder, keep=2)
        written.append(Path(meta["backup_path"].value))
    assert len(set(written)) == 3  # never one over another, even within a second
    kept = list_backups(folder)
    assert [b.dump for b in kept] == written[1:]
    assert not written[0].exists()
    assert meta["backups_kept"].value == 2 and meta["backups_removed"].value == 1
    assert meta["backups_kept_bytes"].value == sum(b.bytes for b in kept)
    for b in kept:
        assert meta[f"bytes/{b.dump.name}"].value == b.bytes
    assert meta["backup_bytes"].value == written[-1].stat().st_size
    assert meta["rows_backed_up"].value == sum(kept[-1].manifest.inventory.row_counts.values())
    assert "kept 2 backup(s)" in meta["report"].value

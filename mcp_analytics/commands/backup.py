"""`mcp-analytics backup [PATH]` and `mcp-analytics restore PATH` (see docs/backup.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags, print_report, progress
from mcp_analytics.config import settings
from mcp_analytics.ingest.redaction import redact_url
from mcp_analytics.warehouse import db


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser(
        "backup",
        help="write a pg_dump backup of the warehouse and its manifest",
        description="pg_dump (custom format, gzip) of the project's database with the "
        "server's own version of pg_dump, and beside it <name>.manifest.json: rows per table, "
        "bootstrap ledger, archive catalogue and where its Parquet files are, marts, roles "
        "(read in the snapshot pg_dump dumps). See docs/backup.md.",
    )
    backup.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the .dump file, or a folder for it (an existing one, or a path ending in /: "
        "created if its parent exists) where it gets a dated name (default: MCPA_BACKUP_DIR, "
        "$MCPA_STATE_DIR/backups)",
    )
    add_flags(
        backup.add_mutually_exclusive_group(),
        {
            "--schema-only": "the schema, no rows",
            "--data-only": "the rows, no schema (restored into a database at the same "
            "bootstrap ledger)",
        },
    )
    backup.set_defaults(func=run_backup)

    restore = sub.add_parser(
        "restore",
        help="restore a backup onto an empty database, then verify it",
        description="pg_restore of a backup of `mcp-analytics backup` into the project's "
        "database (DATABASE_URL or the embedded server), which must be empty; then checks "
        "rows per table, the bootstrap ledger, the archive catalogue and its files against "
        "the manifest, runs `dbt build` and compares the marts. Exit status 1 when a check "
        "fails. See docs/backup.md.",
    )
    restore.add_argument("path", type=Path, metavar="PATH", help="the backup's .dump file")
    add_flags(
        restore,
        {
            "--force": "replace a database that is not empty (dropped and recreated: all in it "
            "is lost)",
            "--no-build": "skip `dbt build` and the comparison of the marts after it",
        },
    )
    restore.set_defaults(func=run_restore)


def backup_target(raw: str | None) -> Path | None:
    """The PATH argument of `backup` as `backup()` takes it: a path ending in `/` names a
    folder (Path() drops the slash, which would make it a file beside the folder), created
    when missing if its parent exists.

    Raises:
        CommandError: the path ends in `/` and neither it nor its parent is a folder.
    """
    if raw is None:
        return None
    path = Path(raw)
    if not raw.endswith(("/", os.sep)) or path.is_dir():
        return path
    if not path.parent.is_dir():
        raise CommandError(
            f"backup: no folder {raw} and its parent {path.parent} does not exist either:"
            " create it, or give an existing folder"
        )
    path.mkdir(mode=0o700)
    return path


def run_backup(args: argparse.Namespace) -> int:
    from mcp_analytics.warehouse.backup import BackupError, Mode, backup

    cfg = settings()
    mode: Mode = "schema-only" if args.schema_only else "data-only" if args.data_only else "full"
    target = backup_target(args.path)
    print_report(
        lambda: backup(
            db.database_url(),
            target,
            directory=cfg.backup_dir,
            mode=mode,
            archive_dir=cfg.archive_dir,
            prefer_embedded=cfg.uses_embedded,
            on_progress=progress,
        ),
        BackupError,
        lambda err: f"backup failed: {err}",
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from mcp_analytics.warehouse.restore import RestoreError, restore

    cfg = settings()
    url = db.database_url()
    progress(f"restoring {args.path} into {redact_url(url)}")
    report = print_report(
        lambda: restore(
            url,
            args.path,
            force=args.force,
            build=not args.no_build,
            prefer_embedded=cfg.uses_embedded,
            on_progress=progress,
        ),
        RestoreError,
        lambda err: f"restore failed: {err}",
    )
    return 0 if report.ok else 1

"""`mcp-analytics archive export [--dry-run] [--dir PATH]`: finish an archive without Dagster."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags, progress, run_report
from mcp_analytics.config import settings


def register(sub: argparse._SubParsersAction) -> None:
    archive = sub.add_parser(
        "archive",
        help="export archived partitions to Parquet (verified, then dropped)",
        description="Tables that retention moved to schema `archive` (see docs/retention.md).",
    )
    actions = archive.add_subparsers(dest="archive_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write every archived table not yet exported to zstd Parquet, verify, drop",
        description="Write each table listed in archive.archived_partitions and not yet "
        "exported to <dir>/<source table>/<archive table>.parquet, read it back, compare row "
        "count and key checksum with the table, then mark it exported and drop it. Progress "
        "goes to stderr, the report to stdout.",
    )
    add_flags(export, {"--dry-run": "list what would be exported, change nothing"})
    export.add_argument(
        "--dir",
        type=Path,
        metavar="PATH",
        help="folder of the Parquet files (default: MCPA_ARCHIVE_DIR, $MCPA_STATE_DIR/archive)",
    )
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    # pyarrow comes with the warehouse extra: imported only when an export runs.
    from mcp_analytics.warehouse.archive import ArchiveError, export_archives

    directory = (args.dir or settings().archive_dir or Path("archive")).resolve()
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"--dir {directory} is not a folder")
    return run_report(
        lambda conn: export_archives(conn, directory, dry_run=args.dry_run, on_notice=progress),
        ArchiveError,
        lambda err: f"archive export stopped: {err}",
    )

"""`mcp-analytics ingest FILE...`: bulk-load newline-delimited JSON events (docs/ingest.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mcp_analytics.ingest.events import TABLES
from mcp_analytics.ingest.loader import DEFAULT_BATCH_ROWS, load


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ingest",
        help="load newline-delimited JSON events into the raw tables",
        description=(
            'Load NDJSON events (one JSON object per line naming its "table") with COPY '
            "through a staging table; duplicates are skipped, bad lines go to a rejects file "
            "and the ingest_rejects table. Exit status 1 when any line was rejected."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="NDJSON file(s), .gz too; - for stdin"
    )
    parser.add_argument(
        "--table", choices=sorted(TABLES), help="table of every line (lines may omit it)"
    )
    parser.add_argument(
        "--rejects",
        type=Path,
        metavar="PATH",
        help="rejects file (JSONL; default: <state_dir>/rejects/ingest-<time>.jsonl)",
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=DEFAULT_BATCH_ROWS,
        metavar="N",
        help=f"rows per transaction (default {DEFAULT_BATCH_ROWS})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes that parse and validate lines (default: one per core left to the "
        "server, at most 2; 0 = in this process)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcp_analytics.cli import CommandError

    if args.batch_rows < 1:
        raise CommandError("--batch-rows must be at least 1")
    if args.workers is not None and args.workers < 0:
        raise CommandError("--workers must be 0 or more")
    if args.files.count("-") > 1:
        raise CommandError("stdin (-) can be read only once")
    try:
        summary = load(
            args.files,
            table=args.table,
            batch_rows=args.batch_rows,
            rejects_path=args.rejects,
            workers=args.workers,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise CommandError(str(err)) from None
    print(summary.render())
    return 1 if summary.rejected else 0

"""`mcp-analytics ingest FILE...`: bulk-load newline-delimited JSON events (docs/ingest.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mcp_analytics.ingest.events import TABLES
from mcp_analytics.ingest.loader import (
    DEFAULT_BATCH_ROWS,
    LoadError,
    LoadInterrupted,
    load,
    stop_on_signals,
)

#: Exit statuses (docs/ingest.md): everything loaded; some lines rejected; a usage error; the
#: load stopped midway (the database, a read error): what was committed stays, run it again.
EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
EXIT_STATUSES = """exit status:
  0  every line loaded (or was already there: duplicates)
  1  the load finished and some lines were rejected, or conflicted with a stored row (see
     the rejects file and table)
  2  usage error: a missing or unreadable file, a bad option
  3  the load stopped midway (database unreachable or gone, a read error): the summary
     counts what was committed; run the same command again (loaded lines count as
     duplicates)
  130, 143  stopped by SIGINT or SIGTERM (128 + the signal): the same, after the chunk
     being written committed or was rolled back"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ingest",
        help="load newline-delimited JSON events into the raw tables",
        description=(
            'Load NDJSON events (one JSON object per line naming its "table") with COPY '
            "through a staging table; duplicates are skipped, bad lines (and the unreadable "
            "tail of a damaged .gz) go to a rejects file and the ingest_rejects table, and "
            "the load goes on."
        ),
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        with stop_on_signals():
            summary = load(
                args.files,
                table=args.table,
                batch_rows=args.batch_rows,
                rejects_path=args.rejects,
                workers=args.workers,
                progress=not args.quiet and sys.stderr.isatty(),
            )
    except LoadInterrupted as stop:
        print(stop.summary.render(), flush=True)
        print(
            f"mcp-analytics: stopped by {stop.signal_name}: committed chunks stay committed: "
            "run the same command again (what was loaded counts as duplicates)",
            file=sys.stderr,
        )
        return stop.exit_status
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise CommandError(str(err)) from None
    except LoadError as err:
        print(err.summary.render())
        print(
            f"mcp-analytics: error: the load stopped: {err}\n"
            "committed chunks stay committed: run the same command again (what was loaded "
            "counts as duplicates)",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    print(summary.render())
    return EXIT_REJECTED if summary.rejected or summary.conflicts else EXIT_OK

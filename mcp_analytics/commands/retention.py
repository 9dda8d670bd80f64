"""`mcp-analytics retention [--dry-run] [--table T]` and `mcp-analytics partitions [...]`."""

from __future__ import annotations

import argparse
import sys

from mcp_analytics.cli import CommandError
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.partitions import PartitionError, upkeep_partitions
from mcp_analytics.warehouse.retention import RetentionError, apply_retention


def register(sub: argparse._SubParsersAction) -> None:
    retention = sub.add_parser(
        "retention",
        help="apply data_retention_policies: archive/delete old rows and partitions",
        description="Apply data_retention_policies (see docs/retention.md): refuses a policy "
        "not longer than the marts' late-data window, holds the warehouse lock, commits one "
        "table at a time. Progress goes to stderr, the report to stdout.",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="report what would go, change nothing"
    )
    retention.add_argument(
        "--table", metavar="NAME", help="only the policy whose table_name is NAME"
    )
    retention.set_defaults(func=run_retention)

    partitions = sub.add_parser(
        "partitions",
        help="create monthly partitions ahead (moves rows waiting in DEFAULT partitions)",
        description="Create the monthly partitions of the current UTC month and the next ones "
        "(see docs/retention.md); each table is committed on its own. Progress goes to stderr, "
        "the report to stdout.",
    )
    partitions.add_argument(
        "--months-ahead", type=_months, default=3, metavar="N", help="future months (default 3)"
    )
    partitions.add_argument(
        "--months-behind", type=_months, default=0, metavar="N", help="past months (default 0)"
    )
    partitions.add_argument(
        "--table",
        action="append",
        metavar="NAME",
        help="a partitioned table (repeatable); default: the partitioned raw tables",
    )
    partitions.set_defaults(func=run_partitions)


def _months(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 120:
        raise argparse.ArgumentTypeError(f"must be between 0 and 120, got {value}")
    return value


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_retention(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        try:
            report = apply_retention(
                conn, dry_run=args.dry_run, table=args.table, on_notice=_progress
            )
        except RetentionError as err:
            if not err.completed:
                raise CommandError(f"retention failed, nothing was changed: {err}") from None
            if err.report is not None:
                print(err.report.describe())
            done = ", ".join(r.table_name for r in err.completed)
            raise CommandError(
                f"retention stopped: {err}; the table(s) above were already done ({done}), "
                "the failing one was left unchanged"
            ) from None
    print(report.describe())
    return 0


def run_partitions(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        try:
            report = upkeep_partitions(
                conn,
                args.table,
                months_ahead=args.months_ahead,
                months_behind=args.months_behind,
                on_notice=_progress,
            )
        except PartitionError as err:
            if err.report is not None:
                print(err.report.describe())
            raise CommandError(f"partition upkeep failed: {err}") from None
    print(report.describe())
    return 0

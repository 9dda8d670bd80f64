"""`mcp-analytics retention [--dry-run] [--table T]` and `mcp-analytics partitions [...]`."""

from __future__ import annotations

import argparse

from mcp_analytics.commands.common import add_flags, progress, run_report
from mcp_analytics.warehouse import partitions
from mcp_analytics.warehouse.retention import RetentionError, apply_retention


def register(sub: argparse._SubParsersAction) -> None:
    retention = sub.add_parser(
        "retention",
        help="apply data_retention_policies: archive/delete old rows and partitions",
        description="Apply data_retention_policies (see docs/retention.md): refuses a policy "
        "not longer than the marts' late-data window, holds the warehouse lock, commits one "
        "table at a time. Progress goes to stderr, the report to stdout.",
    )
    add_flags(retention, {"--dry-run": "report what would go, change nothing"})
    retention.add_argument(
        "--table", metavar="NAME", help="only the policy whose table_name is NAME"
    )
    retention.set_defaults(func=run_retention)

    upkeep = sub.add_parser(
        "partitions",
        help="create monthly partitions ahead (moves rows waiting in DEFAULT partitions)",
        description="Create the monthly partitions of the current UTC month and the next ones "
        "(see docs/retention.md); each table is committed on its own. Progress goes to stderr, "
        "the report to stdout.",
    )
    for flag, default, what in (
        ("--months-ahead", partitions.DEFAULT_MONTHS_AHEAD, "future months"),
        ("--months-behind", partitions.DEFAULT_MONTHS_BEHIND, "past months"),
    ):
        upkeep.add_argument(
            flag, type=_months, default=default, metavar="N", help=f"{what} (default {default})"
        )
    upkeep.add_argument(
        "--table",
        action="append",
        metavar="NAME",
        help="a partitioned table (repeatable); default: the partitioned raw tables",
    )
    upkeep.set_defaults(func=run_partitions)


def _months(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= partitions.MAX_MONTHS:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {partitions.MAX_MONTHS}, got {value}"
        )
    return value


def run_retention(args: argparse.Namespace) -> int:
    return run_report(
        lambda conn: apply_retention(
            conn, dry_run=args.dry_run, table=args.table, on_notice=progress
        ),
        RetentionError,
        _retention_failed,
    )


def _retention_failed(err: RetentionError) -> str:
    if not err.completed:
        return f"retention failed, nothing was changed: {err}"
    done = ", ".join(r.table_name for r in err.completed)
    return (
        f"retention stopped: {err}; the table(s) above were already done ({done}), "
        "the failing one was left unchanged"
    )


def run_partitions(args: argparse.Namespace) -> int:
    return run_report(
        lambda conn: partitions.upkeep_partitions(
            conn,
            args.table,
            months_ahead=args.months_ahead,
            months_behind=args.months_behind,
            on_notice=progress,
        ),
        partitions.PartitionError,
        lambda err: f"partition upkeep failed: {err}",
    )

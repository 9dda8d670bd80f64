"""`mcp-analytics demo`: load a realistic, seeded telemetry workload (see docs/demo.md).

The loading plan is in `mcp_analytics.demo.loader`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags, print_report
from mcp_analytics.demo.loader import DemoError, load
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.warehouse import db


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="load a realistic, seeded telemetry workload (about 1 M tool calls over 30 days)",
        description="Generate and load demo telemetry. Reruns with the same parameters are "
        "skipped; see docs/demo.md.",
    )
    parser.add_argument("--days", type=int, default=30, help="span in days (default 30)")
    parser.add_argument(
        "--tool-calls", type=int, default=1_000_000, help="tool calls to generate (default 1e6)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--end",
        type=_parse_end,
        default=None,
        help="end of the span, ISO 8601 (default: now, truncated to the hour, UTC)",
    )
    parser.add_argument("--users", type=int, default=300, help="demo users (default 300)")
    add_flags(
        parser,
        {"--append": "add this batch even when the database already holds another demo batch"},
    )
    parser.set_defaults(func=run)


def _parse_end(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    if args.days < 1 or args.days > 365:
        raise CommandError("--days must be between 1 and 365")
    if args.tool_calls < 1:
        raise CommandError("--tool-calls must be at least 1")
    if not 1 <= args.users <= 100_000:
        raise CommandError("--users must be between 1 and 100000")
    end = args.end or default_end()
    if end > datetime.now(UTC) + timedelta(days=1):
        raise CommandError("--end lies in the future; telemetry of the future is not a demo")
    spec = WorkloadSpec(
        days=args.days, tool_calls=args.tool_calls, seed=args.seed, end=end, users=args.users
    )
    print_report(
        lambda: load(db.database_url(), spec, append=args.append, say=print), DemoError, str
    )
    return 0

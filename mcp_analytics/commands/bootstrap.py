"""`mcp-analytics bootstrap`: create or upgrade the schema from `bootstrap_sql/`."""

from __future__ import annotations

import argparse

from mcp_analytics.cli import CommandError
from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import DEFAULT_LOCK_WAIT_S, bootstrap


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bootstrap", help="apply the bootstrap SQL files (idempotent)")
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=DEFAULT_LOCK_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for another bootstrap of the same database"
        f" (default {DEFAULT_LOCK_WAIT_S:g})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.lock_wait < 0:
        raise CommandError("--lock-wait must be 0 or more seconds")
    cfg = settings()
    with db.connection(autocommit=True) as conn:
        result = bootstrap(conn, cfg.bootstrap_dir, progress=print, lock_wait_s=args.lock_wait)
    if result.applied:
        print(
            f"applied {len(result.applied)} file(s); {len(result.already_applied)} already applied"
        )
    else:
        print(f"up to date ({len(result.already_applied)} file(s) applied)")
    return 0

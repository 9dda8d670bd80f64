"""`mcp-analytics bootstrap`: create or upgrade the schema from `bootstrap_sql/`."""

from __future__ import annotations

import argparse

from mcp_analytics.config import settings
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bootstrap", help="apply the bootstrap SQL files (idempotent)")
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    cfg = settings()
    with db.connection(autocommit=True) as conn:
        result = bootstrap(conn, cfg.bootstrap_dir, progress=print)
    if result.applied:
        print(
            f"applied {len(result.applied)} file(s); {len(result.already_applied)} already applied"
        )
    else:
        print(f"up to date ({len(result.already_applied)} file(s) applied)")
    return 0

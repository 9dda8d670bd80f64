"""`mcp-analytics indexes status` and `mcp-analytics indexes profile full|lean`."""

from __future__ import annotations

import argparse

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import progress, run_report
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.indexes import (
    PROFILES,
    IndexProfileError,
    apply_profile,
    catalog,
    current_profile,
    index_usage,
)
from mcp_analytics.warehouse.report import text_table


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "indexes",
        help="the raw tables' indexes: what each costs and what uses it; full or lean profile",
        description="The index profiles of the raw telemetry tables (docs/indexes.md): `full` "
        "is the seed's set, what bootstrap creates; `lean` leaves out the indexes that no "
        "build, retention, dashboard page or documented drill-down uses.",
    )
    actions = parser.add_subparsers(dest="indexes_command", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status", help="each index: profile, present, size, scans since the statistics reset"
    )
    status.set_defaults(func=run_status)
    profile = actions.add_parser(
        "profile",
        help="switch the raw tables to a profile (idempotent)",
        description="lean drops the indexes the lean profile leaves out (on the partitioned "
        "parents: every partition follows); full creates the missing ones CONCURRENTLY, "
        "partition by partition, without blocking ingest. Running it again finishes an "
        "interrupted switch.",
    )
    profile.add_argument("name", choices=PROFILES, help="the profile")
    profile.set_defaults(func=run_profile)


def run_status(_args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        try:
            entries = {e.name: e for e in catalog(conn)}
            profile = current_profile(conn)
        except IndexProfileError as err:
            raise CommandError(str(err)) from None
        usage = {u.name: u for u in index_usage(conn)}
    rows = []
    for name, entry in entries.items():
        found = usage.get(name)
        rows.append(
            (
                entry.table,
                name,
                "both" if entry.lean else "full",
                "yes" if found else "no",
                f"{found.bytes / 2**20:,.1f}" if found else "-",
                f"{found.scans:,}" if found else "-",
                entry.used_by,
            )
        )
    header = ("table", "index", "profiles", "present", "MiB", "scans", "used by")
    print("\n".join(text_table(header, rows)))
    kept = [u for u in usage.values() if u.name not in entries]
    if kept:
        names = ", ".join(u.name for u in kept)
        print(f"always kept (keys and constraints the writers need): {names}")
    print(f"current profile: {profile}")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    return run_report(
        lambda conn: apply_profile(conn, args.name, on_notice=progress),
        IndexProfileError,
        lambda err: f"indexes profile {args.name}: {err}",
    )

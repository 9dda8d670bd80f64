"""`mcp-analytics inventory snapshot | show`: what MCP servers advertise, and how it changes.

`snapshot URL` connects to a server over Streamable HTTP (`--command "..."`: a stdio server it
launches) as an MCP client, reads tools/list, prompts/list and resources/list, and stores each
definition with its fingerprint under the server's own name (docs/analytics.md, "Tool
inventory"). A server that cannot be read is recorded as a failed snapshot and exits 1; a URL
that answers HTTP but is not an MCP endpoint (a wrong path) exits 2, with the HTTP status and
where endpoints usually are."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags
from mcp_analytics.warehouse import db


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inventory", help="snapshot the tools, prompts and resources MCP servers advertise"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    snap = actions.add_parser(
        "snapshot",
        help="read a server's tools/prompts/resources lists and store them",
        description="Connect to an MCP server as a client (Streamable HTTP URL, or a stdio "
        "server started with --command), read what it advertises and store each definition "
        "with its fingerprint. Prints what changed since the server's previous snapshot.",
    )
    snap.add_argument("url", nargs="?", help="Streamable HTTP endpoint, e.g. http://host/mcp")
    snap.add_argument(
        "--command",
        metavar="CMD",
        help='a stdio server to launch instead, shell-quoted ("python server.py --flag")',
    )
    snap.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="give up after S seconds (30)"
    )
    add_flags(snap, {"--json": "print the result as one JSON object"})
    snap.set_defaults(func=snapshot_cmd)
    show = actions.add_parser("show", help="the definitions each server advertises now")
    show.add_argument("server", nargs="?", help="only this server (its own name)")
    add_flags(show, {"--json": "one JSON object per line"})
    show.set_defaults(func=show_cmd)


def _target(args: argparse.Namespace) -> Any:
    """The URL, or the stdio server of --command (StdioServerParameters)."""
    from mcp_analytics.analytics.inventory import InventoryError, stdio_target

    if bool(args.url) == bool(args.command):
        raise CommandError("inventory snapshot: give a URL or --command, not both nor neither")
    if args.command:
        try:
            return stdio_target(args.command)
        except InventoryError as err:
            raise CommandError(str(err)) from None
    if not args.url.startswith(("http://", "https://")):
        raise CommandError(
            f"inventory snapshot: {args.url!r} is not an http(s) URL (a stdio server: --command)"
        )
    return args.url


def snapshot_cmd(args: argparse.Namespace) -> int:
    from mcp_analytics.analytics.inventory import (
        KINDS,
        InventoryError,
        NotAnEndpointError,
        changes,
        endpoint_label,
        snapshot,
    )

    if args.timeout <= 0:
        raise CommandError("inventory snapshot: --timeout must be positive")
    target = _target(args)
    with db.connection(autocommit=True) as conn:
        try:
            snapshot_id, inventory = snapshot(conn, target, source="cli", timeout=args.timeout)
        except NotAnEndpointError as err:
            # a wrong URL is the operator's to fix (exit 2); the failed snapshot is recorded
            raise CommandError(f"inventory snapshot of {endpoint_label(target)}: {err}") from None
        except InventoryError as err:
            raise InventoryError(f"inventory snapshot of {endpoint_label(target)}: {err}") from None
        diff = changes(conn, snapshot_id)
    counts = {kind: len(inventory.of_kind(kind)) for kind in KINDS}
    if args.json:
        print(
            json.dumps(
                {
                    "snapshot_id": snapshot_id,
                    "server": inventory.bcp_name,
                    "server_version": inventory.server_version,
                    "protocol_version": inventory.protocol_version,
                    "counts": counts,
                    "new": list(diff.new),
                    "changed": list(diff.changed),
                    "removed": list(diff.removed),
                    "unchanged": diff.unchanged,
                }
            )
        )
        return 0
    print(
        f"snapshot {snapshot_id}: {inventory.bcp_name} {inventory.server_version or ''}"
        f" (protocol {inventory.protocol_version}) at {endpoint_label(target)}:"
        f" {counts['tool']} tools, {counts['prompt']} prompts,"
        f" {counts['resource']} resources, {counts['resource_template']} resource templates"
    )
    for label, names in (("new", diff.new), ("changed", diff.changed), ("removed", diff.removed)):
        for name in names:
            print(f"  {label:<8} {name}")
    print(f"  {diff.unchanged} unchanged")
    return 0


def show_cmd(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        rows = conn.execute(
            """
            with latest as (
                select distinct on (bcp_name) bcp_name, id, taken_at
                from mcp_inventory_snapshots
                where error is null and (%(server)s::text is null or bcp_name = %(server)s)
                order by bcp_name, taken_at desc, id desc
            )
            select v.bcp_name, v.kind, v.name, v.fingerprint, v.first_seen_at, latest.taken_at
            from mcp_definition_versions as v
            join latest on latest.bcp_name = v.bcp_name and v.last_snapshot_id = latest.id
            order by v.bcp_name, v.kind, v.name
            """,
            {"server": args.server},
        ).fetchall()
    if args.server and not rows:
        # a name with no usable snapshot is most often a typo: say so and fail, so a script
        # does not read an empty listing as "advertises nothing"
        raise CommandError(
            f"inventory show: no snapshot of {args.server!r} (unknown server, or every snapshot"
            " of it failed); `mcp-analytics inventory snapshot <url>` takes one"
        )
    if args.json:
        for bcp, kind, name, fp, since, taken in rows:
            print(
                json.dumps(
                    {
                        "server": bcp,
                        "kind": kind,
                        "name": name,
                        "fingerprint": fp,
                        "this_version_since": since.isoformat(),
                        "snapshot_at": taken.isoformat(),
                    }
                )
            )
        return 0
    if not rows:
        print("no snapshot" + (f" of {args.server}" if args.server else ""))
        return 0
    for bcp, kind, name, fp, since, _ in rows:
        print(f"{bcp:<24} {kind:<18} {name:<40} {fp[:12]}  since {since:%Y-%m-%d %H:%M}")
    return 0

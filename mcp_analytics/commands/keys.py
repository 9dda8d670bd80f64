"""`mcp-analytics keys create | list | revoke`: API keys for the OTLP receiver (admin URL).

A key is printed once, by `create`, and stored only as its SHA-256."""

from __future__ import annotations

import argparse

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags, print_json_lines
from mcp_analytics.otlp import keys as api_keys
from mcp_analytics.warehouse import db


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("keys", help="manage API keys of the OTLP receiver")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name", help="what the key is for, e.g. the server sending with it")
    create.set_defaults(func=create_cmd)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    add_flags(listing, {"--json": "one JSON object per line", "--live": "only keys not revoked"})
    listing.set_defaults(func=list_cmd)
    revoke = actions.add_parser("revoke", help="revoke a key: it stops working at once")
    revoke.add_argument("key", metavar="NAME_OR_ID")
    revoke.set_defaults(func=revoke_cmd)


def create_cmd(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        try:
            new = api_keys.create_key(conn, args.name)
        except api_keys.KeyError_ as err:
            raise CommandError(str(err)) from None
    print(new.key)
    print(
        f"key {new.id} ({new.name!r}) created: it is shown only now. Senders use it with\n"
        f'  OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<key>"',
        flush=True,
    )
    return 0


def list_cmd(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        keys = api_keys.list_keys(conn, include_revoked=not args.live)
    if args.json:
        print_json_lines(
            keys,
            ("id", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"),
        )
        return 0
    if not keys:
        print("no API keys")
        return 0
    print(f"{'id':>4}  {'name':<24} {'prefix':<12} {'created':<20} {'last used':<20} status")
    for k in keys:
        status = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        print(
            f"{k.id:>4}  {k.name:<24} {k.prefix + '…':<12} {k.created_at:%Y-%m-%d %H:%M}"
            f"     {used:<20} {status}"
        )
    return 0


def revoke_cmd(args: argparse.Namespace) -> int:
    with db.connection(autocommit=True) as conn:
        count = api_keys.revoke_key(conn, args.key)
    if not count:
        raise CommandError(f"no live key named or numbered {args.key!r} (see: keys list)")
    print(f"revoked {count} key(s)")
    return 0

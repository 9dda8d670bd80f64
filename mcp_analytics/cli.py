"""`mcp-analytics`: one entry point; each subcommand lives in `mcp_analytics/commands/`.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func=handler` where `handler(args) -> int`. Modules are discovered, so adding a command never
means editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from mcp_analytics import __version__, commands
from mcp_analytics.extras import missing_extra
from mcp_analytics.ingest.redaction import redact_text


class CommandError(RuntimeError):
    """An error the user can act on: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The `mcp-analytics` parser: each module of `commands/` registers its subcommands."""
    parser = argparse.ArgumentParser(
        prog="mcp-analytics",
        description="Analytics warehouse for MCP server telemetry.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        # a module without register() is shared code of the commands, not a command
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command (`argv`, default sys.argv[1:]); returns its exit status: the command's
    own (0 when done), 1 for an error it raised, 2 for a usage error or no command, 130 when
    interrupted. Errors are printed redacted, never raised."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: no secret in a traceback
        # A command of a core install that reached a package of the warehouse extra.
        missing = missing_extra(err) if isinstance(err, ModuleNotFoundError) else None
        if missing is not None:
            print(f"mcp-analytics: error: {missing}", file=sys.stderr)
            return 2
        if args.verbose and not isinstance(err, CommandError):
            import traceback

            print(redact_text(traceback.format_exc()), file=sys.stderr)
        print(f"mcp-analytics: error: {redact_text(str(err))}", file=sys.stderr)
        return 2 if isinstance(err, CommandError) else 1


if __name__ == "__main__":
    sys.exit(main())

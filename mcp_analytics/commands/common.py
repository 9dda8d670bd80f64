"""What several subcommands share: their on/off flags, progress on stderr, and the way a
warehouse operation's report is printed (stdout) or its failure turned into a CommandError.

Not a command: `register` is absent on purpose; `mcp_analytics.cli` skips modules without it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import psycopg

from mcp_analytics.cli import CommandError
from mcp_analytics.warehouse import db


class Described(Protocol):
    """A report the CLI prints: `describe()` gives its lines."""

    def describe(self) -> str: ...


E = TypeVar("E", bound=Exception)
R = TypeVar("R", bound=Described)


def progress(message: str) -> None:
    """Print one progress line to stderr at once (the report itself goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def add_flags(
    parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, flags: Mapping[str, str]
) -> None:
    """Add each `option -> help` of `flags` to `parser` as an on/off flag (store_true),
    in the mapping's order."""
    for option, text in flags.items():
        parser.add_argument(option, action="store_true", help=text)


def print_json_lines(records: Iterable[Any], fields: Sequence[str]) -> None:
    """Print one JSON object per record: its attributes `fields`, in that order (a datetime
    in ISO 8601, None as null)."""
    for record in records:
        values = {name: getattr(record, name) for name in fields}
        print(
            json.dumps(
                {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}
            )
        )


def print_report(run: Callable[[], R], error: type[E], failed: Callable[[E], str]) -> R:
    """Call `run` and print the report it returns (stdout); returns that report.

    Raises:
        CommandError: `run` raised `error`; its message is `failed(err)`. The partial report
            the error carries (`err.report`, what was done before it), when there is one, is
            printed first.
    """
    try:
        report = run()
    except error as err:
        done: Described | None = getattr(err, "report", None)
        if done is not None:
            print(done.describe())
        raise CommandError(failed(err)) from None
    print(report.describe())
    return report


def run_report(
    operation: Callable[[psycopg.Connection], Described],
    error: type[E],
    failed: Callable[[E], str],
) -> int:
    """`print_report` of `operation` on an autocommit connection to the project's database
    (held until the report is printed); returns exit status 0.

    Raises:
        CommandError: as `print_report`.
    """
    with db.connection(autocommit=True) as conn:
        print_report(lambda: operation(conn), error, failed)
    return 0

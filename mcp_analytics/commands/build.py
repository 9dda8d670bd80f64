"""`mcp-analytics build`, `mcp-analytics dbt` and `mcp-analytics dbt-env`.

`build` is `dbt build` against the project's database; `dbt` passes any arguments to dbt;
`dbt-env` prints the environment for running dbt by hand (password masked unless asked).
"""

from __future__ import annotations

import argparse
import shlex

from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags
from mcp_analytics.dbt.env import DbtNotFoundError, dbt_env
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.ingest.redaction import redact_text

# Variables that dbt_project/profiles.yml and dbt itself read.
_EXPORTED_PREFIXES = (
    "MCPA_PG_", "DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    # prefix_chars="+": every argument after the command, options included, is dbt's
    # (argparse.REMAINDER alone stops at a leading option such as --select).
    build = sub.add_parser(
        "build",
        prefix_chars="+",
        help="run `dbt build` (models and tests) against the project's database",
        description="Runs `dbt build` with the project's database; extra arguments go to dbt, "
        "e.g. `mcp-analytics build --select marts` (`--help` shows dbt's help).",
    )
    build.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt build")
    build.set_defaults(func=run_build)

    passthrough = sub.add_parser(
        "dbt",
        prefix_chars="+",
        help="run any dbt command against the project's database",
        description="Example: `mcp-analytics dbt -- source freshness`.",
    )
    passthrough.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt arguments")
    passthrough.set_defaults(func=run_passthrough)

    env = sub.add_parser(
        "dbt-env",
        help='print `export` lines to run dbt by hand: eval "$(mcp-analytics dbt-env)"',
    )
    add_flags(
        env, {"--show-password": "print the database password in clear (it is masked otherwise)"}
    )
    env.set_defaults(func=print_env)


def _strip_separator(args: list[str]) -> list[str]:
    return args[1:] if args and args[0] == "--" else args


def _run(args: list[str]) -> int:
    try:
        return run_dbt(args).returncode
    except DbtNotFoundError as err:
        raise CommandError(str(err)) from None


def run_build(args: argparse.Namespace) -> int:
    return _run(["build", *_strip_separator(args.dbt_args)])


def run_passthrough(args: argparse.Namespace) -> int:
    dbt_args = _strip_separator(args.dbt_args)
    if not dbt_args:
        raise CommandError("give dbt arguments, e.g. `mcp-analytics dbt -- source freshness`")
    return _run(dbt_args)


def _masked(value: str, password: str) -> str:
    """`value` with any password in it masked: a connection string in either libpq form, or
    the database password itself (a value no variable should hold, but never printed)."""
    value = redact_text(value)
    if len(password) >= 4 and password in value:
        value = value.replace(password, "***")
    return value


def print_env(args: argparse.Namespace) -> int:
    env = dbt_env()
    for key in sorted(env):
        if not key.startswith(_EXPORTED_PREFIXES):
            continue
        value = env[key]
        if key == "MCPA_PG_PASSWORD" and value and not args.show_password:
            value = "***"
        elif not args.show_password:
            value = _masked(value, env.get("MCPA_PG_PASSWORD", ""))
        print(f"export {key}={shlex.quote(value)}")
    if env.get("MCPA_PG_PASSWORD") and not args.show_password:
        print("# password masked: use --show-password to print it")
    return 0

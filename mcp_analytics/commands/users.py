"""`mcp-analytics users create | list | disable | enable | set-password | unlock | revoke-sessions`.

Passwords come from a prompt (twice, not echoed) or, for scripts, from the first line of stdin
with --password-stdin; never from the command line, where `ps` and shell history would keep
them. They are never printed. These commands connect with the admin URL.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import replace

from mcp_analytics import auth
from mcp_analytics.cli import CommandError
from mcp_analytics.commands.common import add_flags, print_json_lines
from mcp_analytics.warehouse import db


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("users", help="manage dashboard users (passwords via prompt/stdin)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a user")
    create.add_argument("username")
    create.add_argument("--email")
    create.add_argument("--role", choices=auth.ROLES, default="READ_ONLY")
    create.add_argument("--first-name")
    create.add_argument("--last-name")
    _password_source(create)
    create.set_defaults(func=create_cmd)

    listing = actions.add_parser("list", help="list users (never their password hashes)")
    add_flags(listing, {"--json": "one JSON object per line"})
    listing.set_defaults(func=list_cmd)

    for name, func, text in (
        ("disable", disable_cmd, "disable a user and end their sessions"),
        ("enable", enable_cmd, "re-enable a disabled user"),
        ("unlock", unlock_cmd, "clear a lockout after too many failed logins"),
        ("revoke-sessions", revoke_cmd, "end all sessions of a user"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("username")
        action.set_defaults(func=func)

    setpw = actions.add_parser("set-password", help="set a new password (ends all sessions)")
    setpw.add_argument("username")
    _password_source(setpw)
    setpw.set_defaults(func=set_password_cmd)


class _RefusePassword(argparse.Action):
    """`--password X`: refused without echoing X (argparse would print it as unrecognized)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            "passwords are not accepted on the command line (shell history, ps): "
            "answer the prompt or pipe it with --password-stdin"
        )


def _password_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )
    parser.add_argument("--password", "-p", action=_RefusePassword, help=argparse.SUPPRESS)


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CommandError("no password on stdin")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to prompt for a password: pipe it with --password-stdin")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise CommandError("the two passwords differ")
    return password


def _connection():
    return db.connection(role="admin", autocommit=True)


def _run(action):
    try:
        with _connection() as conn:
            return action(conn)
    except (auth.UserError, auth.PasswordPolicyError, auth.AuthConfigError) as err:
        raise CommandError(str(err)) from None


def create_cmd(args: argparse.Namespace) -> int:
    password = read_password(args)
    user = _run(
        lambda conn: auth.create_user(
            conn,
            args.username,
            password,
            email=args.email,
            role=args.role,
            first_name=args.first_name,
            last_name=args.last_name,
        )
    )
    print(f"created user {user.username} (id {user.id}, role {user.role})")
    return 0


def list_cmd(args: argparse.Namespace) -> int:
    users = _run(auth.list_users)
    if args.json:
        # a lockout that has run out is no lockout
        shown = [replace(u, locked_until=u.locked_until if u.locked else None) for u in users]
        print_json_lines(
            shown,
            (
                "id",
                "username",
                "email",
                "role",
                "is_active",
                "locked_until",
                "login_attempts",
                "last_login",
            ),
        )
        return 0
    header = f"{'id':>5}  {'username':<24} {'role':<11} {'state':<8} {'last login':<20} email"
    print(header)
    for u in users:
        state = "locked" if u.locked else ("active" if u.is_active else "disabled")
        last = u.last_login.strftime("%Y-%m-%d %H:%M") if u.last_login else "never"
        print(f"{u.id:>5}  {u.username:<24} {u.role:<11} {state:<8} {last:<20} {u.email or ''}")
    return 0


def disable_cmd(args: argparse.Namespace) -> int:
    _run(lambda conn: auth.set_active(conn, args.username, False))
    print(f"disabled {args.username}; their sessions are ended")
    return 0


def enable_cmd(args: argparse.Namespace) -> int:
    _run(lambda conn: auth.set_active(conn, args.username, True))
    print(f"enabled {args.username}")
    return 0


def unlock_cmd(args: argparse.Namespace) -> int:
    _run(lambda conn: auth.unlock_user(conn, args.username))
    print(f"unlocked {args.username}")
    return 0


def revoke_cmd(args: argparse.Namespace) -> int:
    def revoke(conn) -> int:
        user = auth.get_user(conn, args.username)
        if user is None:
            raise auth.UserError(f"no user named {args.username!r}")
        return auth.revoke_all_sessions(conn, user.id)

    count = _run(revoke)
    print(f"ended {count} session(s) of {args.username}")
    return 0


def set_password_cmd(args: argparse.Namespace) -> int:
    password = read_password(args)
    _run(lambda conn: auth.set_password(conn, args.username, password))
    print(f"password of {args.username} changed; their sessions are ended")
    return 0

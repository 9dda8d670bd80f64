"""`mcp-analytics users ...`: passwords only from a prompt or stdin, never printed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from mcp_analytics import cli
from mcp_analytics.config import settings

PASSWORD = "stdin only please 42"


@pytest.fixture
def cli_db(module_db: str, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", module_db)
    settings.cache_clear()
    yield module_db
    settings.cache_clear()


def run(argv: list[str], monkeypatch, capsys, stdin: str = "") -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def stored_hash(url: str, username: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select password_hash from users where username = %s", (username,)
        ).fetchone()[0]


def test_users_lifecycle_through_the_cli(cli_db: str, monkeypatch, capsys) -> None:
    code, out = run(
        ["users", "create", "carol", "--email", "c@example.org", "--password-stdin"],
        monkeypatch,
        capsys,
        stdin=PASSWORD + "\n",
    )
    assert code == 0, out
    assert PASSWORD not in out
    first = stored_hash(cli_db, "carol")
    assert first.startswith("$2b$12$")

    code, out = run(["users", "list"], monkeypatch, capsys)
    assert code == 0 and "carol" in out and "$2b$" not in out

    for action in ("disable", "enable", "unlock", "revoke-sessions"):
        code, out = run(["users", action, "carol"], monkeypatch, capsys)
        assert code == 0, (action, out)

    code, out = run(
        ["users", "set-password", "carol", "--password-stdin"],
        monkeypatch,
        capsys,
        stdin="a brand new password\n",
    )
    assert code == 0 and "a brand new password" not in out
    assert stored_hash(cli_db, "carol") != first

    code, out = run(["users", "disable", "nobody"], monkeypatch, capsys)
    assert code == 2 and "no user named" in out


def test_passwords_are_never_taken_from_argv(cli_db: str, monkeypatch, capsys) -> None:
    for argv in (["--password", PASSWORD], [f"--password={PASSWORD}"], ["-p", PASSWORD]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["users", "create", "dora", *argv])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "not accepted on the command line" in err and PASSWORD not in err
    # No terminal and no --password-stdin: refuse rather than read a password unasked.
    code, out = run(["users", "create", "dora"], monkeypatch, capsys, stdin=PASSWORD + "\n")
    assert code == 2 and "--password-stdin" in out and PASSWORD not in out
    code, out = run(["users", "create", "dora", "--password-stdin"], monkeypatch, capsys)
    assert code == 2 and "no password on stdin" in out
    code, out = run(
        ["users", "create", "dora", "--password-stdin"], monkeypatch, capsys, stdin="short\n"
    )
    assert code == 2 and "at least" in out and "short" not in out.split("at least")[0]
    with psycopg.connect(cli_db) as conn:
        assert conn.execute("select count(*) from users where username = 'dora'").fetchone()[0] == 0


def test_the_installed_command_reads_stdin(cli_db: str) -> None:
    env = dict(os.environ, DATABASE_URL=cli_db)
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_analytics.cli", "users", "create", "emil", "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    assert stored_hash(cli_db, "emil").startswith("$2b$12$")

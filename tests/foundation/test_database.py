"""Database lifecycle, URLs and the CLI around them, on real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.cli import main
from mcp_analytics.ingest.redaction import redact_text, redact_url
from mcp_analytics.warehouse import db, embedded


def test_redaction_of_urls_and_text() -> None:
    url = "postgresql://alice:s3cr%40t@db.example:5432/app?sslmode=require"
    assert "s3cr" not in redact_url(url)
    assert redact_url(url).startswith("postgresql://alice:***@db.example:5432/app")
    text = 'connection to "postgres://bob:hunter2@h/db" failed; password=hunter2 rejected'
    assert "hunter2" not in redact_text(text)
    assert redact_url("postgresql://bob@/db?host=/tmp") == "postgresql://bob@/db?host=/tmp"


def test_libpq_params_for_socket_and_tcp_urls() -> None:
    sock = db.libpq_params("postgresql://postgres@/mcp?host=%2Ftmp%2Fsock&port=5433")
    assert sock == {
        "host": "/tmp/sock",
        "port": "5433",
        "user": "postgres",
        "password": "",
        "dbname": "mcp",
    }
    tcp = db.libpq_params("postgresql://u:p%40ss@localhost:6543/x?sslmode=disable")
    assert tcp["host"] == "localhost" and tcp["port"] == "6543" and tcp["password"] == "p@ss"
    assert tcp["sslmode"] == "disable"


@pytest.mark.slow
def test_embedded_server_starts_stops_and_keeps_its_data(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    status = embedded.start(pgdata)
    try:
        assert status.running and status.pid
        assert embedded.start(pgdata).pid == status.pid  # already running: a no-op
        url = status.url("postgres")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table kept (v int); insert into kept values (42)")
            assert conn.execute("show max_connections").fetchone()[0] == "200"
        assert embedded.stop(pgdata) is True
        assert not embedded.status(pgdata).running
        assert embedded.stop(pgdata) is False
        again = embedded.start(pgdata)
        with psycopg.connect(again.url("postgres")) as conn:
            assert conn.execute("select v from kept").fetchone()[0] == 42
    finally:
        embedded.stop(pgdata)


def test_db_url_prints_a_url_psycopg_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "url"]) == 0
    url = capsys.readouterr().out.strip()
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone()[0] == 1


def test_unreachable_database_error_never_shows_the_password(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["DATABASE_URL"] = "postgresql://someone:TopSecret123@127.0.0.1:9/nowhere?connect_timeout=2"
    env["MCPA_STATE_DIR"] = str(tmp_path)
    says = {
        # the URL is shown with the password masked
        ("db", "status"): "database postgresql://someone:***@127.0.0.1:9/nowhere?connect_timeout"
        "=2: unreachable: connection failed: ",
        ("bootstrap",): "mcp-analytics: error: connection failed: ",
        # -v adds the (redacted) traceback
        ("-v", "bootstrap"): "Traceback (most recent call last):",
    }
    for args, message in says.items():
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_analytics.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0, args
        output = proc.stdout + proc.stderr
        assert "TopSecret123" not in output, output
        assert message in output, output
        assert 'connection to server at "127.0.0.1", port 9 failed' in output, output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "DATABASE_URL is not a PostgreSQL connection string"),
        (
            "mysql://u:TopSecret123@localhost/x",
            "DATABASE_URL is not a PostgreSQL connection string",
        ),
        ("postgresql://u:TopSecret123@127.0.0.1:9/x?connect_timeout=2", "check DATABASE_URL"),
    ],
)
def test_a_bad_database_url_is_one_line_naming_the_variable(
    tmp_path: Path, url: str, says: str
) -> None:
    env = {**os.environ, "DATABASE_URL": url, "MCPA_STATE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_analytics.cli", "users", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith("mcp-analytics: error: ") and says in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "TopSecret123" not in err


def test_cli_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "bootstrap" in capsys.readouterr().out

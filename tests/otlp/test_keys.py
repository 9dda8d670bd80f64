"""API keys: `mcp-analytics keys create | list | revoke`, stored hashed; the receiver requires
them on any non-loopback address and answers 401 (storing nothing) to a wrong or revoked one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
import requests

from mcp_analytics.auth.tokens import hash_secret
from mcp_analytics.cli import main
from mcp_analytics.otlp.keys import KeyChecker
from mcp_analytics.otlp.receiver import ReceiverConfig, is_loopback
from tests.helpers.db import scalar
from tests.helpers.otlp_receiver import running
from tests.helpers.web import free_port

from . import otlp_data as d

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def cli_db(bootstrapped_db, cli_env):
    cli_env(bootstrapped_db)
    return bootstrapped_db


def _create(capsys, name: str) -> str:
    assert main(["keys", "create", name]) == 0
    out = capsys.readouterr().out
    key = out.splitlines()[0]
    assert key.startswith("mcpa_") and len(key) > 40
    return key


def test_keys_are_stored_hashed_and_listed_without_secrets(cli_db, capsys):
    key = _create(capsys, "github-server")
    with psycopg.connect(cli_db, autocommit=True) as conn:
        dump = conn.execute("select api_keys::text from api_keys").fetchall()
    assert key not in str(dump) and hash_secret(key) in str(dump)
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "github-server" in listing and key not in listing and hash_secret(key) not in listing
    assert key[:11] in listing  # the prefix, to recognise it
    assert main(["keys", "list", "--json"]) == 0
    assert '"name": "github-server"' in capsys.readouterr().out
    # A second live key with the same name is refused with a clear message.
    assert main(["keys", "create", "github-server"]) == 2
    assert "revoke it first" in capsys.readouterr().err
    assert main(["keys", "revoke", "github-server"]) == 0
    assert main(["keys", "revoke", "github-server"]) == 2
    assert "no live key" in capsys.readouterr().err


def test_ingest_role_checks_keys_without_reading_them(cli_db, capsys):
    key = _create(capsys, "k")
    with psycopg.connect(cli_db, autocommit=True) as conn:
        conn.execute("set role mcp_ingest")
        assert scalar(conn, "select api_key_valid(%s)", (hash_secret(key),)) is True
        assert scalar(conn, "select api_key_valid(%s)", (hash_secret("nope"),)) is False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select key_hash from api_keys")


def test_receiver_with_keys(cli_db, capsys, tmp_path):
    key = _create(capsys, "server-a")
    keys = KeyChecker(lambda: psycopg.connect(cli_db, autocommit=True))
    body = d.traces(d.mcp_span()).SerializeToString()
    with running(cli_db, tmp_path / "spool", ReceiverConfig(require_keys=True), keys=keys) as r:

        def send(auth: str | None) -> int:
            headers = dict(PB, **({"Authorization": auth} if auth else {}))
            answer = requests.post(r.url + "/v1/traces", data=body, headers=headers, timeout=30)
            return answer.status_code

        assert send(None) == 401
        assert send("Bearer mcpa_wrong") == 401
        assert send(f"Basic {key}") == 401
        assert scalar(cli_db, "select count(*) from tool_usage_logs") == 0
        assert send(f"Bearer {key}") == 200
        assert scalar(cli_db, "select count(*) from tool_usage_logs") == 1
        assert main(["keys", "revoke", "server-a"]) == 0
        assert send(f"Bearer {key}") == 401  # at once, not after a cache expires
        assert scalar(cli_db, "select last_used_at is not null from api_keys") is True


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.10", False),
        ("::", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_serve_on_all_addresses_requires_keys(cli_db, capsys, tmp_path):
    key = _create(capsys, "remote")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=cli_db, MCPA_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_analytics.cli",
            "otlp",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/traces"
        body = d.traces(d.mcp_span()).SerializeToString()
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.post(url, data=body, headers=PB, timeout=10)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.status_code == 401
        headers = dict(PB, Authorization=f"Bearer {key}")
        assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "API keys required" in out
    assert key not in out
    assert scalar(cli_db, "select count(*) from tool_usage_logs") == 1


def test_serve_with_worker_processes(cli_db, tmp_path):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=cli_db, MCPA_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_analytics.cli", "otlp", "serve", "--port", str(port),
         "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v1/traces"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        for _ in range(10):
            body = d.traces(*[d.mcp_span() for _ in range(20)]).SerializeToString()
            assert requests.post(url, data=body, headers=PB, timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert scalar(cli_db, "select count(*) from tool_usage_logs") == 200

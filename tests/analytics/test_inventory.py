"""`mcp-analytics inventory snapshot` against a real MCP server (SDK v2 MCPServer) over
Streamable HTTP on 127.0.0.1 and over stdio: each definition stored with the fingerprint of
its canonical JSON under the server's own name, version periods extended or opened, what
changed reported, failures recorded, usage errors refused."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.analytics.inventory import definition_of, fingerprint
from mcp_analytics.cli import main
from mcp_analytics.config import settings
from mcp_analytics.ingest.events import canonical_json
from tests.helpers.db import rows
from tests.helpers.web import free_port

from .servers.catalog import NAME, build, serving

CATALOG = Path(__file__).resolve().parent / "servers" / "catalog.py"


@pytest.fixture
def cli_db(bootstrapped_db, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", bootstrapped_db)
    monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path / "state"))
    settings.cache_clear()
    yield bootstrapped_db
    settings.cache_clear()


def _snapshot(capsys, *args: str) -> dict:
    assert main(["inventory", "snapshot", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _versions(url: str) -> list[tuple]:
    return rows(
        url,
        "select kind, name, fingerprint, definition, times_seen, first_snapshot_id,"
        " last_snapshot_id from mcp_definition_versions order by kind, name, id",
    )


def test_fingerprints_are_of_the_canonical_json_of_the_contract_fields() -> None:
    wire = {
        "name": "t",
        "description": "d",
        "inputSchema": {"type": "object", "properties": {"b": {}, "a": {}}},
        "title": "not part of the contract",
        "_meta": {"x": 1},
    }
    d = definition_of("tool", wire)
    assert d.definition == {k: wire[k] for k in ("name", "description", "inputSchema")}
    expected = (
        '{"description":"d","inputSchema":{"properties":{"a":{},"b":{}},"type":"object"},'
        '"name":"t"}'
    )
    assert canonical_json(d.definition) == expected
    assert d.fingerprint == hashlib.sha256(expected.encode()).hexdigest()
    # key order and left-out fields change nothing; a changed description does
    reordered = dict(reversed(list(wire.items())))
    assert definition_of("tool", reordered).fingerprint == d.fingerprint
    assert definition_of("tool", {**wire, "outputSchema": None}).fingerprint == d.fingerprint
    assert definition_of("tool", {**wire, "description": "e"}).fingerprint != d.fingerprint


def test_a_snapshot_over_streamable_http_stores_every_definition(cli_db, capsys) -> None:
    with serving(build("1.0.0")) as url:
        result = _snapshot(capsys, url)
    assert result["server"] == NAME and result["server_version"] == "1.0.0"
    assert result["protocol_version"]
    assert result["counts"] == {"tool": 3, "prompt": 1, "resource": 1, "resource_template": 1}
    assert len(result["new"]) == 6 and result["unchanged"] == 0
    versions = _versions(cli_db)
    assert {(k, n) for k, n, *_ in versions} == {
        ("tool", "search"),
        ("tool", "legacy_export"),
        ("tool", "create_issue"),
        ("prompt", "triage"),
        ("resource", "file:///readme.md"),
        ("resource_template", "issues://{issue_id}"),
    }
    for _, _, fp, definition, *_ in versions:
        assert fp == fingerprint(definition)
    search = next(v for v in versions if v[1] == "search")
    assert search[3]["annotations"] == {"readOnlyHint": True}
    assert search[3]["inputSchema"]["required"] == ["query"]
    with psycopg.connect(cli_db) as conn:
        row = conn.execute(
            "select bcp_name, server_version, source, endpoint, tools, prompts, resources,"
            " resource_templates, error from mcp_inventory_snapshots"
        ).fetchone()
    assert row == (NAME, "1.0.0", "cli", url, 3, 1, 1, 1, None)


def test_unchanged_definitions_extend_their_period_changes_open_one(cli_db, capsys) -> None:
    with serving(build("1.0.0")) as url:
        first = _snapshot(capsys, url)
        second = _snapshot(capsys, url)
    assert second["unchanged"] == 6 and not (second["new"] or second["changed"])
    assert {v[4] for v in _versions(cli_db)} == {2}  # seen twice, still one row each

    with serving(build("1.1.0", changed=True)) as url:
        assert main(["inventory", "snapshot", url]) == 0
        out = capsys.readouterr().out
        third = _snapshot(capsys, url)
    assert "new      tool archive" in out
    assert "changed  tool search" in out
    assert "removed  tool legacy_export" in out
    assert "4 unchanged" in out
    assert third["unchanged"] == 6 and not third["removed"]

    versions = _versions(cli_db)
    search = [v for v in versions if v[1] == "search"]
    assert len(search) == 2  # the old version's period ended, the new one's began
    old, new = search
    assert old[6] == second["snapshot_id"] and new[5] > second["snapshot_id"]
    assert "limit" in new[3]["inputSchema"]["properties"]
    assert new[3]["description"] == "Search issues by text, newest first."
    legacy = next(v for v in versions if v[1] == "legacy_export")
    assert (legacy[5], legacy[6]) == (first["snapshot_id"], second["snapshot_id"])


def test_a_stdio_server_through_command(cli_db, capsys) -> None:
    result = _snapshot(capsys, "--command", f"{sys.executable} {CATALOG} --changed")
    assert result["server"] == NAME
    assert result["counts"]["tool"] == 3
    with psycopg.connect(cli_db) as conn:
        endpoint = conn.execute("select endpoint from mcp_inventory_snapshots").fetchone()[0]
    assert endpoint == f"{sys.executable} {CATALOG} --changed"


def test_credentials_in_the_url_are_not_stored(cli_db, capsys) -> None:
    with serving(build()) as url:
        secret = url.replace("http://", "http://user:s3cret@") + "?token=abc#frag"
        _snapshot(capsys, secret)
    with psycopg.connect(cli_db) as conn:
        endpoint = conn.execute("select endpoint from mcp_inventory_snapshots").fetchone()[0]
    assert endpoint == url


def test_an_unreachable_server_is_recorded_and_exits_1(cli_db, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    assert main(["inventory", "snapshot", url, "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert f"inventory snapshot of {url}:" in err and "Traceback" not in err
    # the transport's own error, not the task group wrapping it, and what to check
    assert "ExceptionGroup" not in err and "ConnectError" in err and "server running" in err
    with psycopg.connect(cli_db) as conn:
        row = conn.execute(
            "select bcp_name, endpoint, error is not null from mcp_inventory_snapshots"
        ).fetchone()
    assert row == (None, url, True)


def _not_an_endpoint(cli_db: str, capsys, url: str) -> str:
    """The one error line of a snapshot of `url`, which must exit 2 (a wrong URL) and still be
    recorded as a failed snapshot."""
    assert main(["inventory", "snapshot", url, "--timeout", "10"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    (line,) = [x for x in err.splitlines() if x.startswith("mcp-analytics: error:")]
    assert f"inventory snapshot of {url}: not an MCP endpoint" in line, line
    assert "for a stdio server use --command" in line, line
    with psycopg.connect(cli_db) as conn:
        row = conn.execute("select endpoint, error from mcp_inventory_snapshots").fetchone()
    assert row is not None and row[0] == url and "HTTP " in row[1]
    return line


def test_a_real_mcp_server_at_the_wrong_path_says_status_and_where(cli_db, capsys) -> None:
    with serving(build()) as url:
        wrong = url.removesuffix("/mcp") + "/api"
        line = _not_an_endpoint(cli_db, capsys, wrong)
    # the SDK's "MCPError: Not Found" had neither the status nor the hint
    assert "answered an MCP initialize request with HTTP 404 Not Found." in line, line
    assert f"Streamable HTTP endpoints are usually at /mcp (try {url})" in line, line


class _HtmlPage(BaseHTTPRequestHandler):
    """A web server that is not MCP: every POST gets an HTML page (or, at /private, 401)."""

    def do_POST(self) -> None:
        status = 401 if self.path == "/private" else 200
        body = b"<html><body>welcome</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _web_server() -> Iterator[str]:
    """A plain http.server serving `_HtmlPage` on 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_server_that_is_not_mcp_says_what_it_answered(cli_db, capsys) -> None:
    with _web_server() as base:
        line = _not_an_endpoint(cli_db, capsys, f"{base}/mcp")
        assert "with HTTP 200 OK with text/html, not JSON or an event stream." in line, line
        # at /mcp already: no other URL to try
        assert "usually at /mcp; for a stdio server" in line, line

        # a 401 is an endpoint that wants credentials, not a wrong URL: exit 1, no /mcp hint
        assert main(["inventory", "snapshot", f"{base}/private", "--timeout", "10"]) == 1
        err = capsys.readouterr().err
    assert "refused an MCP initialize request with HTTP 401 Unauthorized" in err, err
    assert "wants credentials" in err and "/mcp" not in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a URL or --command"),
        (["http://127.0.0.1:1/mcp", "--command", "x"], "give a URL or --command"),
        (["ftp://example.org/mcp"], "is not an http(s) URL"),
        (["--command", "'unbalanced"], "--command:"),
        (["http://127.0.0.1:1/mcp", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_usage_errors(cli_db, capsys, args: list[str], message: str) -> None:
    assert main(["inventory", "snapshot", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_show_lists_what_each_server_advertises_now(cli_db, capsys) -> None:
    with serving(build()) as url:
        _snapshot(capsys, url)
    with serving(build(changed=True)) as url:
        _snapshot(capsys, url)
    assert main(["inventory", "show", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["kind"], r["name"]) for r in shown if r["kind"] == "tool"} == {
        ("tool", "search"),
        ("tool", "archive"),
        ("tool", "create_issue"),
    }


def test_show_of_an_unknown_server_fails_with_a_clear_line(cli_db, capsys) -> None:
    with serving(build()) as url:
        _snapshot(capsys, url)
    for argv in (["inventory", "show", "nosuch"], ["inventory", "show", "nosuch", "--json"]):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "no snapshot of 'nosuch'" in captured.err and "Traceback" not in captured.err

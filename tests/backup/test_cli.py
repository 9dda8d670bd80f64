"""`mcp-analytics backup` and `restore` as an operator runs them, and the choice of pg_dump by
the server's version."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from mcp_analytics.cli import main
from mcp_analytics.config import settings
from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse.backup import read_backup
from mcp_analytics.warehouse.bootstrap import LEDGER
from mcp_analytics.warehouse.pgtools import PgToolError, find_tool, server_major
from tests.helpers.db import scalar

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def loaded_db(
    cli_env: Callable[[str], None],
    bootstrapped_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The CLI on a test database holding 8 hours of synthetic telemetry, its backups in
    tmp_path."""
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        start = datetime.now(UTC) - timedelta(hours=10)
        load_synthetic(conn, start=start, hours=8, calls=200, requests=100, errors=20, metrics=40)
    monkeypatch.setenv("MCPA_BACKUP_DIR", str(tmp_path / "backups"))
    cli_env(bootstrapped_db)
    return bootstrapped_db


def test_backup_prints_what_it_wrote_and_restore_refuses_then_forces(
    loaded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["backup"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    _progress_says_what_is_dumped(captured.err, loaded_db)
    match = re.fullmatch(r"wrote (\S+\.dump) \((\d+\.\d) KiB, full, gzip:6\)", out[0])
    assert match, out
    dump = Path(match.group(1))
    assert dump.parent == tmp_path / "backups" and dump.is_file()
    assert abs(float(match.group(2)) - dump.stat().st_size / 1024) < 0.1
    assert out[1].startswith(
        f"wrote {dump.with_name(dump.name.replace('.dump', '.manifest.json'))}"
    )
    counts = read_backup(dump).manifest.inventory.row_counts
    assert f"{len(counts)} tables, {sum(counts.values()):,} rows" in out[1]
    assert sum(n for t, n in counts.items() if t.startswith("public.tool_usage_logs")) == 200
    assert "PostgreSQL" in out[2] and "pg_dump" in out[2]

    # the project's database is not empty: refused, with what to do
    assert main(["restore", str(dump)]) == 2
    err = capsys.readouterr().err
    assert "restore failed: database" in err and "--force" in err and "Traceback" not in err
    with psycopg.connect(loaded_db, autocommit=True) as conn:
        conn.execute("delete from tool_usage_logs")
    assert main(["restore", str(dump), "--force", "--no-build"]) == 0
    captured = capsys.readouterr()
    assert "verified: every check holds" in captured.out
    assert "dropping and recreating database" in captured.err
    assert scalar(loaded_db, "select count(*) from tool_usage_logs") == 200


def _progress_says_what_is_dumped(err: str, url: str) -> None:
    """stderr: each phase, then a line per table with rows as pg_dump starts it (with its
    rows), then how many tables were dumped; stdout keeps the report alone."""
    lines = err.splitlines()
    database = conninfo_to_dict(url)["dbname"]
    assert lines[0] == f"reading the manifest's facts of {database} (rows per table, ledger, marts)"
    assert lines[1].startswith(f"dumping {database} (full) with "), err
    assert "/pg_dump (" in lines[1] and lines[1].endswith(".dump"), err
    tables = dict(re.findall(r"^  rows of (\S+) \(([\d,]+)\)$", err, re.MULTILINE))
    calls = sum(int(n.replace(",", "")) for t, n in tables.items() if ".tool_usage_logs" in t)
    assert calls == 200, err
    assert f"public.{LEDGER}" in tables, err  # the bootstrap ledger, which has rows
    assert re.search(r"^dumped the rows of \d+ tables \(\d+ of them empty\)$", err, re.M), err
    assert lines[-1].startswith("writing the manifest "), err


def test_failures_are_one_clear_line_without_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://op:Sup3rSecretPw@127.0.0.1:1/warehouse")
    monkeypatch.setenv("MCPA_BACKUP_DIR", str(tmp_path))
    settings.cache_clear()
    try:
        assert main(["backup"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mcp-analytics: error: backup failed: cannot connect")
        assert "Sup3rSecretPw" not in err and "Traceback" not in err
        assert list(tmp_path.iterdir()) == []
        assert main(["restore", str(tmp_path / "nothing.dump")]) == 2
        assert "nothing.dump: no such backup file" in capsys.readouterr().err
    finally:
        settings.cache_clear()
    with pytest.raises(SystemExit) as usage:
        main(["backup", "--schema-only", "--data-only"])
    assert usage.value.code == 2


def test_pg_dump_is_chosen_by_the_server_version(server_url: str):
    major = server_major(int(scalar(server_url, "select current_setting('server_version_num')")))
    tool = find_tool("pg_dump", major)
    assert tool.major == major  # 15 for a PostgreSQL 15 server, 18 for the embedded one
    assert tool.path.name == "pg_dump"
    with pytest.raises(PgToolError, match="no pg_dump for PostgreSQL 99 or newer") as err:
        find_tool("pg_dump", 99)
    assert "postgresql-client-99" in str(err.value) and "MCPA_PG_BIN_DIR" in str(err.value)


@pytest.mark.skipif(not (DEBIAN_15 / "pg_dump").exists(), reason="no PostgreSQL 15 client here")
def test_an_older_pg_dump_is_never_used_for_a_newer_server(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MCPA_PG_BIN_DIR", str(DEBIAN_15))  # searched first
    assert find_tool("pg_dump", 15).path == DEBIAN_15 / "pg_dump"
    newer = find_tool("pg_dump", 16)
    assert newer.major >= 16 and newer.path.parent != DEBIAN_15


def test_a_path_ending_in_a_slash_is_a_folder_for_a_dated_backup(
    loaded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = tmp_path / "no" / "such"
    assert main(["backup", f"{missing}/"]) == 2
    err = capsys.readouterr().err
    assert f"no folder {missing}/ and its parent {missing.parent} does not exist" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []

    folder = tmp_path / "new"
    assert main(["backup", f"{folder}/"]) == 0
    capsys.readouterr()
    (dump,) = folder.glob("*.dump")
    assert re.fullmatch(r".+-\d{8}T\d{6}Z\.dump", dump.name), dump.name
    assert read_backup(dump).manifest.inventory.row_counts
    assert not folder.with_name("new.dump").exists()

"""Index profiles on a real database: lean drops what the lean profile leaves out on the
parents and every partition, full puts it back (concurrently, partition by partition), both
idempotent; new partitions follow the parent; ingest keeps its unique keys in either profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from mcp_analytics.cli import main
from mcp_analytics.config import settings
from mcp_analytics.ingest.loader import load_text
from mcp_analytics.warehouse.indexes import (
    IndexProfileError,
    apply_profile,
    catalog,
    current_profile,
    index_usage,
)
from mcp_analytics.warehouse.tables import partitioned_tables
from tests.helpers.db import column, rows, scalar


def _present(url: str) -> dict[str, set[str]]:
    """index name -> the tables (parent and partitions) that have it or a child of it."""
    pairs = rows(
        url,
        "select coalesce(p.relname, i.relname), t.relname from pg_index as x"
        " join pg_class as i on i.oid = x.indexrelid join pg_class as t on t.oid = x.indrelid"
        " left join pg_inherits as h on h.inhrelid = x.indexrelid"
        " left join pg_class as p on p.oid = h.inhparent"
        " where t.relnamespace = 'public'::regnamespace",
    )
    out: dict[str, set[str]] = {}
    for index, table in pairs:
        out.setdefault(index, set()).add(table)
    return out


def _partitions(url: str, table: str) -> set[str]:
    children = column(
        url,
        "select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid"
        " where i.inhparent = %s::regclass",
        (table,),
    )
    return {*children, table}


def test_the_catalogue_covers_every_non_unique_index_of_the_telemetry_tables(
    bootstrapped_db: str,
):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        entries = {e.name: e for e in catalog(conn)}
        usage = index_usage(conn)
    for u in usage:
        # unique indexes are the writers' keys (on conflict): never in a profile
        assert (u.name in entries) == (not u.unique), u.name
    assert any(e.lean for e in entries.values()) and not all(e.lean for e in entries.values())
    for entry in entries.values():
        assert entry.used_by.strip(), entry.name  # every index says what uses it (or nothing)


def test_lean_then_full_on_parents_and_partitions(bootstrapped_db: str):
    url = bootstrapped_db
    with psycopg.connect(url, autocommit=True) as conn:
        entries = catalog(conn)
        assert current_profile(conn) == "full"
        report = apply_profile(conn, "lean")
    left_out = {e.name for e in entries if not e.lean}
    assert {name for name, _ in report.dropped} == left_out
    present = _present(url)
    assert not left_out & set(present)  # gone from the parents and from every partition
    for entry in entries:
        if entry.lean:
            assert present[entry.name] >= _partitions(url, entry.table), entry.name
    with psycopg.connect(url, autocommit=True) as conn:
        assert current_profile(conn) == "lean"
        again = apply_profile(conn, "lean")
        assert not again.dropped and not again.created
        assert "already at profile lean" in again.describe()
        # a month created while lean takes the parent's (lean) indexes
        conn.execute("select create_monthly_partitions('tool_usage_logs', 6)")
        assert current_profile(conn) == "lean"
        lines: list[str] = []
        full = apply_profile(conn, "full", on_notice=lines.append)
    assert {name for name, _ in full.created} == left_out
    assert any("(concurrently)" in line for line in lines)
    present = _present(url)
    for entry in entries:
        assert present[entry.name] >= _partitions(url, entry.table), entry.name
    with psycopg.connect(url, autocommit=True) as conn:
        assert current_profile(conn) == "full"
        assert not apply_profile(conn, "full").created
        invalid = conn.execute("select count(*) from pg_index where not indisvalid").fetchone()
        assert invalid[0] == 0


def test_an_interrupted_full_switch_is_finished_by_the_next_run(bootstrapped_db: str):
    url = bootstrapped_db
    table = partitioned_tables()[0].name
    with psycopg.connect(url, autocommit=True) as conn:
        apply_profile(conn, "lean")
        entry = next(e for e in catalog(conn) if not e.lean and e.table == table)
        # what a run stopped after the parent's index leaves: the parent's index alone
        conn.execute(entry.definition)
        assert current_profile(conn) == "custom"
        report = apply_profile(conn, "full")
        assert entry.name in {name for name, _ in report.created}
        assert current_profile(conn) == "full"
    assert _present(url)[entry.name] >= _partitions(url, table)


def test_ingest_keeps_its_keys_and_the_marts_sources_their_indexes_when_lean(bootstrapped_db):
    url = bootstrapped_db
    with psycopg.connect(url, autocommit=True) as conn:
        apply_profile(conn, "lean")
    now = datetime.now(UTC) - timedelta(minutes=5)
    line = json.dumps(
        {"execution_id": "lean-1", "bcp_name": "b", "tool_name": "t", "operation": "read",
         "duration_ms": 5, "success": True, "timestamp": now.isoformat()}
    )  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        first = load_text(line + "\n" + line + "\n", conn=conn, table="tool_usage_logs")
    assert first.loaded == 1 and first.duplicates == 1
    assert scalar(url, "select count(*) from tool_usage_logs") == 1


def test_unknown_profile_and_missing_catalogue_are_clear_errors(empty_db: str):
    with psycopg.connect(empty_db, autocommit=True) as conn:
        with pytest.raises(ValueError, match="unknown profile 'tiny'"):
            apply_profile(conn, "tiny")
        with pytest.raises(IndexProfileError, match="run `mcp-analytics bootstrap` first"):
            apply_profile(conn, "lean")


def test_the_cli_switches_and_reports(
    bootstrapped_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", bootstrapped_db)
    settings.cache_clear()
    try:
        assert main(["indexes", "status"]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].split()[:4] == ["table", "index", "profiles", "present"]
        assert out.rstrip().endswith("current profile: full")
        assert main(["indexes", "profile", "lean"]) == 0
        captured = capsys.readouterr()
        assert "dropped idx_" in captured.out and "dropping idx_" in captured.err
        assert captured.out.rstrip().splitlines()[-1].startswith("profile lean: ")
        assert main(["indexes", "profile", "lean"]) == 0
        assert "already at profile lean" in capsys.readouterr().out
        assert main(["indexes", "status"]) == 0
        assert capsys.readouterr().out.rstrip().endswith("current profile: lean")
    finally:
        settings.cache_clear()

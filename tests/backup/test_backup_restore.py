"""Backup, drop, restore, compare: pg_dump and pg_restore for real (the server's own version),
dbt for real. What is compared: rows per table, the bootstrap ledger, the archive catalogue
and its Parquet files, the marts as restored and after `dbt build`, the database's privileges.

Runs on the embedded server (PostgreSQL 18) or DATABASE_URL's (CI: PostgreSQL 15, whose pg_dump
is found by the server's version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse import inventory
from mcp_analytics.warehouse.archive import export_archives
from mcp_analytics.warehouse.backup import (
    MANIFEST_SUFFIX,
    backup,
    read_backup,
)
from mcp_analytics.warehouse.restore import restore
from mcp_analytics.warehouse.tables import partitioned_tables
from tests.helpers.db import create_database, drop_database, scalar

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DATABASE_ACL = (
    "select array_agg(a::text order by a::text) from pg_database as d, unnest(d.datacl) as a"
    " where d.datname = current_database()"
)
OLD_DAYS = 150  # older than the seed's raw retention: archived by apply_retention


def _data(counts: dict[str, int]) -> dict[str, int]:
    return {t: n for t, n in counts.items() if not t.startswith("public.mart_")}


@dataclass(frozen=True)
class Source:
    """A warehouse with telemetry, marts built, archives exported, and its backup."""

    url: str
    dump: Path
    facts: inventory.Inventory
    archive_dir: Path


def _telemetry(url: str, archive_dir: Path, target: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (t.name for t in partitioned_tables()):
            conn.execute("select create_monthly_partitions(%s, 0, 7)", (table,))
        load_synthetic(conn, start=NOW - timedelta(days=OLD_DAYS), hours=24, tag="old")
        conn.execute("select * from apply_retention(p_dry_run => false)")
        export_archives(conn, archive_dir)
        load_synthetic(conn, start=NOW - timedelta(days=3), hours=72, tag="recent")
    proc = run_dbt(["build"], url=url, target_path=target, capture=True)
    assert proc.returncode == 0, proc.stdout[-4000:]


@pytest.fixture(scope="module")
def source(server_url: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("backup")
    url = create_database(server_url)
    from mcp_analytics.config import settings
    from mcp_analytics.warehouse.bootstrap import bootstrap

    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap(conn, settings().bootstrap_dir)
    _telemetry(url, tmp / "archive", tmp / "dbt-source")
    with psycopg.connect(url, autocommit=True) as conn:
        facts = inventory.take(conn)
    result = backup(url, tmp / "warehouse.dump", directory=tmp, archive_dir=tmp / "archive")
    yield Source(url, result.backup.dump, facts, tmp / "archive")
    drop_database(url)


def test_the_source_has_what_a_backup_must_carry(source: Source):
    facts = source.facts
    assert facts.row_counts["public.tool_usage_logs_default"] >= 0
    assert sum(n for t, n in facts.row_counts.items() if "tool_usage_logs" in t) >= 1500
    assert len(facts.ledger) >= 20
    assert facts.archive_catalog and all(e["exported_at"] for e in facts.archive_catalog)
    assert facts.archive_files and all(f["exists"] for f in facts.archive_files)
    # The telemetry marts hold rows (the inventory marts stay empty: no server was snapshotted).
    telemetry_marts = {
        f"analytics.{name}"
        for name in (
            "hourly_tool_usage_summary",
            "daily_tool_usage_summary",
            "hourly_request_summary",
            "daily_error_summary",
            "performance_metrics_summary",
        )
    }
    assert telemetry_marts <= facts.marts.keys()
    assert all(facts.marts[name].rows > 0 for name in telemetry_marts)
    assert facts.pending_dirty_buckets == 0
    assert {"mcp_admin", "mcp_ingest", "mcp_analyst", "mcp_app"} <= {r.name for r in facts.roles}


def test_the_manifest_records_the_snapshot_pg_dump_dumped(source: Source):
    found = read_backup(source.dump)
    m = found.manifest
    assert found.manifest_path == source.dump.with_name("warehouse" + MANIFEST_SUFFIX)
    assert m.mode == "full" and m.dump_bytes == source.dump.stat().st_size
    assert m.inventory.row_counts == source.facts.row_counts
    assert m.inventory.ledger == source.facts.ledger
    assert m.inventory.archive_catalog == source.facts.archive_catalog
    assert m.inventory.marts == source.facts.marts
    assert m.archive_dir == str(source.archive_dir)
    # pg_dump of the server's major version (15 against 15, 18 against 18)
    assert m.pg_dump_major == m.server_major
    # the dump is pg_dump's custom format, compressed, and private to its owner
    assert source.dump.read_bytes()[:5] == b"PGDMP"
    assert source.dump.stat().st_mode & 0o077 == 0
    assert json.loads(found.manifest_path.read_text())["format"] == "mcp-analytics-backup/1"


def test_backup_drop_restore_compare(source: Source, tmp_path: Path):
    """The issue's test: the database is dropped, then restored from the backup alone."""
    acl_before = scalar(source.url, DATABASE_ACL)
    drop_database(source.url)
    progress: list[str] = []
    report = restore(
        source.url, source.dump, dbt_target_path=tmp_path / "dbt", on_progress=progress.append
    )
    assert report.ok, report.describe()
    names = [c.name for c in report.checks]
    assert names == [
        "bootstrap ledger",
        "rows per table",
        "archive catalogue",
        "archive files",
        "marts as restored",
        "dbt build",
        "marts after the build",
    ]
    # compared here again, independently of the report
    with psycopg.connect(source.url, autocommit=True) as conn:
        after = inventory.take(conn)
    # (the report compared every table before the build; the build rewrites its own
    # bookkeeping, the public.mart_* tables)
    assert _data(after.row_counts) == _data(source.facts.row_counts)
    assert report.checks[1].detail.startswith(f"{len(source.facts.row_counts)} tables")
    assert after.ledger == source.facts.ledger
    assert after.archive_catalog == source.facts.archive_catalog
    assert after.marts == source.facts.marts
    # the database's own privileges (revoke connect from public, grants to the roles)
    assert scalar(source.url, DATABASE_ACL) == acl_before
    assert not scalar(
        source.url, "select has_database_privilege('public', current_database(), 'connect')"
    )
    # sequences continue after the restored ids
    assert scalar(
        source.url, "select nextval(pg_get_serial_sequence('tool_usage_logs', 'id'))"
    ) > scalar(source.url, "select max(id) from tool_usage_logs")
    assert any("running pg_restore" in line for line in progress)
    text = report.describe()
    assert "verified: every check holds" in text and text.count("ok  ") == len(names)

"""Archive files are never written over: a month archived twice is exported to two files
(`archive.py` names each export uniquely and refuses an existing path), and a check finds any
catalogued export whose file is missing, shared or holds another row count."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from mcp_analytics.warehouse.archive import (
    ArchiveError,
    check_archive_files,
    export_archives,
    export_one,
    pending_exports,
)
from mcp_analytics.warehouse.tables import partitioned_tables
from tests.helpers.telemetry import insert_telemetry

OLD = datetime.now(UTC) - timedelta(days=150)  # past the partitioned tables' retention
NAME = re.compile(r"^tool_usage_logs_\d{4}_\d{2}__\d{8}T\d{6}Z_[0-9a-f]{8}\.parquet$")


def _archive_the_old_month(url: str, hours_earlier: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (t.name for t in partitioned_tables()):
            # the old month's partition (again, after retention detached it)
            conn.execute("select create_monthly_partitions(%s, 0, 7)", (table,))
    insert_telemetry(url, hours=1, per_hour=10, end=OLD - timedelta(hours=hours_earlier))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select * from apply_retention(false)")


def test_a_month_archived_twice_is_two_files(bootstrapped_db: str, tmp_path: Path) -> None:
    _archive_the_old_month(bootstrapped_db, 0)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        first = export_archives(conn, tmp_path).exported
    _archive_the_old_month(bootstrapped_db, 2)  # late rows for that month, archived again
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        second = export_archives(conn, tmp_path).exported
        checked, problems = check_archive_files(conn)
    tool = [r for r in (*first, *second) if r.source_table == "tool_usage_logs"]
    assert len(tool) == 2 and tool[0].archive_table == tool[1].archive_table  # same month
    assert tool[0].path != tool[1].path
    for result in tool:
        assert NAME.match(result.path.name), result.path
        assert pq.ParquetFile(result.path).metadata.num_rows == result.rows
    assert checked == len(first) + len(second) and problems == []


def test_an_export_never_writes_over_a_file(bootstrapped_db: str, tmp_path: Path, monkeypatch):
    _archive_the_old_month(bootstrapped_db, 0)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        entry = next(p for p in pending_exports(conn) if p.source_table == "tool_usage_logs")
        taken = entry.folder(tmp_path) / "taken.parquet"
        taken.parent.mkdir(parents=True)
        taken.write_bytes(b"someone else's archive")
        monkeypatch.setattr(type(entry), "unique_path", lambda self, d, now=None: taken)
        with pytest.raises(ArchiveError, match="exists already: refusing to write over it"):
            export_one(conn, entry, tmp_path)
        assert taken.read_bytes() == b"someone else's archive"
        assert [p.catalog_id for p in pending_exports(conn)].count(entry.catalog_id) == 1
        assert conn.execute("select to_regclass(%s)", (entry.archive_name,)).fetchone()[0]
        assert not list(taken.parent.glob("*.partial"))


def test_the_check_finds_missing_shared_and_short_files(bootstrapped_db: str, tmp_path: Path):
    _archive_the_old_month(bootstrapped_db, 0)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        done = export_archives(conn, tmp_path).exported
        assert len(done) >= 2 and check_archive_files(conn)[1] == []
        a, b = done[0], done[1]
        # b's entry pointing at a's file (what overwriting left behind), a's file then gone
        conn.execute(
            "update archive.archived_partitions set export_path = %s where id = %s",
            (str(a.path), b.catalog_id),
        )
        _, problems = check_archive_files(conn)
        assert [(p.catalog_id, p.problem) for p in problems] == [
            (b.catalog_id, f"the same file as catalog entry {a.catalog_id}")
        ]
        os.unlink(a.path)
        _, problems = check_archive_files(conn)
        assert (a.catalog_id, "file missing") in [(p.catalog_id, p.problem) for p in problems]
        conn.execute(
            "update archive.archived_partitions set export_path = %s,"
            " row_count = row_count + 1 where id = %s",
            (str(b.path), b.catalog_id),
        )
        _, problems = check_archive_files(conn)
        assert (b.catalog_id, f"{b.rows} rows in the file, {b.rows + 1} catalogued") in [
            (p.catalog_id, p.problem) for p in problems
        ]


def test_a_low_role_cannot_hold_up_the_export(bootstrapped_db: str, tmp_path: Path) -> None:
    _archive_the_old_month(bootstrapped_db, 0)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        # the advisory key the export used before 063, which any role may take
        conn.execute(
            "select pg_advisory_lock(hashtext('mcp_analytics'), hashtext('archive_export'))"
        )
        with psycopg.connect(bootstrapped_db, autocommit=True) as exporter:
            assert export_archives(exporter, tmp_path).exported
    # another export running: refused at once, with a message
    _archive_the_old_month(bootstrapped_db, 2)
    with (
        psycopg.connect(bootstrapped_db) as other,
        psycopg.connect(bootstrapped_db, autocommit=True) as exporter,
    ):
        other.execute("lock table archive_export_lock in exclusive mode")
        with pytest.raises(ArchiveError, match="another archive export is running"):
            export_archives(exporter, tmp_path)

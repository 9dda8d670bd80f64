"""Archive export: archived partitions become zstd Parquet files, verified, then dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from mcp_analytics.warehouse.archive import (
    ArchiveVerificationError,
    export_pending,
    pending_exports,
)

from .conftest import insert_telemetry

OLD_DAYS = 150  # older than tool_usage_logs' 90-day and mcp_request_logs' 60-day retention


def archive_old_rows(url: str) -> int:
    """Old rows in their own monthly partitions, then retention archives them."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("tool_usage_logs", "mcp_request_logs"):
            conn.execute("select create_monthly_partitions(%s, 0, 7)", (table,))
    inserted = insert_telemetry(
        url, hours=2, per_hour=15, end=datetime.now(UTC) - timedelta(days=OLD_DAYS)
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select * from apply_retention(p_dry_run => false)")
    return inserted


def test_export_writes_verified_parquet_and_drops_the_archive(bootstrapped_db: str, tmp_path: Path):
    inserted = archive_old_rows(bootstrapped_db)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        pending = pending_exports(conn)
        assert {row[2] for row in pending} >= {"tool_usage_logs", "mcp_request_logs"}
        archived = {(row[3], row[4]): row[5] for row in pending}
        results = export_pending(conn, tmp_path)
        assert len(results) == len(pending)
        by_source: dict[str, int] = {}
        for res in results:
            assert res.path.exists() and res.path.suffix == ".parquet"
            assert res.path.is_relative_to(tmp_path / res.source_table)
            meta = pq.ParquetFile(res.path).metadata
            assert meta.num_rows == res.rows
            assert meta.row_group(0).column(0).compression == "ZSTD"
            by_source[res.source_table] = by_source.get(res.source_table, 0) + res.rows
        # every old row of each table is in the files, once
        assert by_source["tool_usage_logs"] == inserted
        assert by_source["mcp_request_logs"] == inserted
        ids = pq.read_table(
            next(r.path for r in results if r.source_table == "tool_usage_logs"),
            columns=["execution_id", "timestamp", "parameters"],
        )
        assert ids.column("timestamp").type.tz == "UTC"
        assert ids.column("parameters").to_pylist()[0] == '{"q": 1}'
        for schema, table in archived:
            assert (
                conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0] is None
            )
        assert pending_exports(conn) == []
        done = conn.execute(
            "select count(*) from archive.archived_partitions"
            " where exported_at is not null and export_path like %s",
            (f"{tmp_path}%",),
        ).fetchone()[0]
        assert done == len(results)


def test_a_mismatch_keeps_the_archive_and_writes_no_file(bootstrapped_db: str, tmp_path: Path):
    archive_old_rows(bootstrapped_db)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        first = pending_exports(conn)[0]
        conn.execute(
            "update archive.archived_partitions set row_count = row_count + 1 where id = %s",
            (first[0],),
        )
        with pytest.raises(ArchiveVerificationError, match="catalog says"):
            export_pending(conn, tmp_path)
        assert conn.execute("select to_regclass(%s)", (f"{first[3]}.{first[4]}",)).fetchone()[0]
        assert pending_exports(conn)[0][0] == first[0]
    assert not list(tmp_path.rglob("*.parquet"))

"""Archive export: archived partitions become zstd Parquet files, verified, then dropped; from
the library and from `mcp-analytics archive export` (an operator without Dagster)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from mcp_analytics.cli import main
from mcp_analytics.warehouse import archive
from mcp_analytics.warehouse.archive import (
    ArchiveVerificationError,
    export_archives,
    pending_exports,
)
from mcp_analytics.warehouse.tables import partitioned_tables
from tests.helpers.telemetry import insert_telemetry

OLD_DAYS = 150  # older than tool_usage_logs' 90-day and mcp_request_logs' 60-day retention


def archive_old_rows(url: str) -> int:
    """Old rows in their own monthly partitions, then retention archives them."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (t.name for t in partitioned_tables()):
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
        assert {p.source_table for p in pending} >= {"tool_usage_logs", "mcp_request_logs"}
        archived = {(p.archive_schema, p.archive_table): p.row_count for p in pending}
        progress: list[str] = []
        report = export_archives(conn, tmp_path, on_notice=progress.append)
        results = report.exported
        assert len(results) == len(pending)
        assert sum(1 for line in progress if line.startswith("exporting archive.")) == len(pending)
        assert report.as_metadata()["rows_exported"] == sum(archived.values())
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
            (first.catalog_id,),
        )
        with pytest.raises(ArchiveVerificationError, match="catalog says") as err:
            export_archives(conn, tmp_path)
        assert err.value.report is None  # it stopped at the first table: nothing done
        assert conn.execute("select to_regclass(%s)", (first.archive_name,)).fetchone()[0]
        assert pending_exports(conn)[0].catalog_id == first.catalog_id
    assert not list(tmp_path.rglob("*.parquet"))


@pytest.fixture
def cli_db(
    cli_env: Callable[[str], None],
    bootstrapped_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The CLI on the test database (cli_env), MCPA_ARCHIVE_DIR a folder of tmp_path."""
    monkeypatch.setenv("MCPA_ARCHIVE_DIR", str(tmp_path / "archive"))
    cli_env(bootstrapped_db)
    return bootstrapped_db


def test_cli_dry_run_lists_then_export_finishes_the_archive(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
):
    # Small batches, so the 30-row tables report progress batch by batch like big ones.
    monkeypatch.setattr(archive, "BATCH_ROWS", 10)
    inserted = archive_old_rows(cli_db)
    with psycopg.connect(cli_db, autocommit=True) as conn:
        pending = pending_exports(conn)
    by_source = {p.source_table for p in pending}
    assert {"tool_usage_logs", "mcp_request_logs"} <= by_source
    folder = tmp_path / "archive"

    assert main(["archive", "export", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["archived", "table", "source", "rows", "would", "write"]
    listed = {line.split()[0]: line.split() for line in out[2:-1]}
    assert set(listed) == {p.archive_name for p in pending}
    for p in pending:
        target = folder / p.source_table / f"{p.archive_table}__*.parquet"
        assert listed[p.archive_name][1:] == [p.source_table, str(p.row_count), str(target)]
    total = sum(p.row_count for p in pending)
    assert out[-1] == (
        f"total: {len(pending)} table(s), {total} row(s) would be exported"
        " (dry run: nothing changed)"
    )
    assert not folder.exists()
    with psycopg.connect(cli_db, autocommit=True) as conn:
        assert pending_exports(conn) == pending

    assert any(p.row_count > 10 for p in pending)
    assert main(["archive", "export"]) == 0
    captured = capsys.readouterr()
    for p in pending:
        assert f"exporting {p.archive_name} ({p.row_count} rows) to " in captured.err
        assert f"{p.archive_name}: verified (" in captured.err
        if p.row_count > 10:
            assert f"  {p.archive_name}: 10/{p.row_count} rows written" in captured.err
    assert captured.out.splitlines()[-1].startswith(
        f"total: {len(pending)} table(s), {total} row(s), "
    )
    files = sorted((folder / "tool_usage_logs").glob("*.parquet"))
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == inserted
    with psycopg.connect(cli_db, autocommit=True) as conn:
        assert pending_exports(conn) == []
        for p in pending:
            assert conn.execute("select to_regclass(%s)", (p.archive_name,)).fetchone()[0] is None

    # nothing left: a second run says so
    assert main(["archive", "export"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to export"


def test_cli_export_stops_at_a_mismatch_after_reporting_what_it_finished(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    archive_old_rows(cli_db)
    with psycopg.connect(cli_db, autocommit=True) as conn:
        first, second, *_ = pending_exports(conn)
        conn.execute(
            "update archive.archived_partitions set row_count = row_count + 1 where id = %s",
            (second.catalog_id,),
        )
    assert main(["archive", "export", "--dir", str(tmp_path / "elsewhere")]) == 2
    captured = capsys.readouterr()
    assert first.archive_name in captured.out  # done and reported
    assert f"archive export stopped: {second.archive_name} holds" in captured.err
    assert "Traceback" not in captured.err
    with psycopg.connect(cli_db, autocommit=True) as conn:
        left = pending_exports(conn)
        assert left[0].catalog_id == second.catalog_id
        assert conn.execute("select to_regclass(%s)", (second.archive_name,)).fetchone()[0]
    assert list((tmp_path / "elsewhere" / first.source_table).glob(f"{first.archive_table}__*"))
    assert not (tmp_path / "archive").exists()

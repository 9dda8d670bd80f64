"""Files that hold raw telemetry are private: rejects files and Parquet archives are created
0600 (in folders created 0700), like the spool, whatever the umask."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from mcp_analytics.ingest.loader import load
from mcp_analytics.warehouse.archive import export_one, pending_exports

OLD = datetime.now(UTC) - timedelta(days=150)  # past tool_usage_logs' 90-day retention


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rejects_file_is_0600_under_a_permissive_umask(bootstrapped_db, tmp_path):
    old = os.umask(0o000)
    try:
        path = tmp_path / "rejects" / "r.jsonl"
        summary = load(
            ["-"],
            url=bootstrapped_db,
            workers=0,
            rejects_path=path,
            stdin=__import__("io").BytesIO(b'{"table": "error_logs", "password": "x"}\n'),
        )
    finally:
        os.umask(old)
    assert summary.rejected == 1
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_parquet_archives_are_0600_under_a_permissive_umask(bootstrapped_db, tmp_path):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute("select create_monthly_partitions('tool_usage_logs', 0, 7)")
        for i in range(3):
            conn.execute(
                "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
                " duration_ms, success, \"timestamp\") values (%s, 'b', 't', 'o', 1, true, %s)",
                (f"mode-{i}", OLD - timedelta(minutes=i)),
            )
        conn.execute("select * from apply_retention(p_dry_run => false)")
        old = os.umask(0o000)
        try:
            for entry in pending_exports(conn):
                export_one(conn, entry, tmp_path / "archive")
        finally:
            os.umask(old)
    files = list((tmp_path / "archive").rglob("*.parquet"))
    assert any(p.parent.name == "tool_usage_logs" for p in files), files
    for path in files:
        assert mode(path) == 0o600, oct(mode(path))
        assert mode(path.parent) == 0o700

"""The marts take the warehouse lock with the key that `warehouse_lock_key()` returns."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.dbt.runner import run_dbt

pytestmark = pytest.mark.slow

MART = "hourly_tool_usage_summary"


def _run_mart(url: str, target: Path) -> str:
    proc = run_dbt(["run", "--select", f"+{MART}"], url=url, target_path=target, capture=True)
    return ("ok " if proc.returncode == 0 else "failed ") + proc.stdout[-3000:]


def test_marts_wait_for_the_key_of_warehouse_lock_key(module_db: str, tmp_path: Path) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        # Another key than the shipped one: a mart that restated the literal would not see it.
        conn.execute(
            "create or replace function warehouse_lock_key(out classid integer, out objid integer)"
            " language sql immutable as $$ select 4242, 4343 $$"
        )
        name = conn.execute("select current_database()").fetchone()[0]
        conn.execute(
            sql.SQL("alter database {} set lock_timeout = '2s'").format(sql.Identifier(name))
        )
    with psycopg.connect(module_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(4242, 4343)")  # e.g. retention
        blocked = _run_mart(module_db, tmp_path)
        holder.execute("select pg_advisory_unlock(4242, 4343)")
    assert blocked.startswith("failed"), blocked
    assert "lock timeout" in blocked, blocked
    released = _run_mart(module_db, tmp_path)
    assert released.startswith("ok"), released

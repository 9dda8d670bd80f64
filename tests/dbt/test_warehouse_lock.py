"""The marts take the warehouse lock (bootstrap_sql/063: a table lock only admins can take)
in their pre-hook: they wait for retention, never for an advisory key anyone can hold."""

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


def test_marts_wait_for_retention_and_for_nobody_else(module_db: str, tmp_path: Path) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()[0]
        conn.execute(
            sql.SQL("alter database {} set lock_timeout = '2s'").format(sql.Identifier(name))
        )
    with psycopg.connect(module_db) as retention:
        retention.execute("select warehouse_lock(false)")  # retention's transaction
        blocked = _run_mart(module_db, tmp_path)
        retention.rollback()
    assert blocked.startswith("failed"), blocked
    assert "warehouse lock: gave up waiting" in blocked, blocked
    with psycopg.connect(module_db, autocommit=True) as anyone:
        # the advisory keys the marts used before 063, which any role may take
        anyone.execute("select pg_advisory_lock(k.classid, k.objid) from warehouse_lock_key() k")
        anyone.execute(
            "select pg_advisory_lock(k.classid, k.objid) from mart_lock_key(%s) k", (MART,)
        )
        released = _run_mart(module_db, tmp_path)
    assert released.startswith("ok"), released

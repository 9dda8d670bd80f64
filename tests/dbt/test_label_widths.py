"""Widened labels (bootstrap_sql/060) on a warehouse that already had views and marts: the
seed's summaries come back as they were, dbt's views and marts follow, and a label at its new
width goes all the way to the marts."""

from __future__ import annotations

import secrets
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap

from .project_copy import copy_project, output, run_in

pytestmark = pytest.mark.slow

TOOL = "search_" + "q" * 121  # 128: MCP's longest tool name
SERVER = "io.github.example-org/" + "crm-connector-" * 16
METHOD = "UPDATEREDIRECTREF"
METRIC = "mcp.server.operation." + "duration_" * 26


@pytest.fixture
def old_warehouse(server_url: str, tmp_path: Path):
    """A database bootstrapped with every file but 060 (as an installation that had the others
    before the widths were widened; the dbt project needs 063's warehouse lock); its URL."""
    before = tmp_path / "bootstrap_sql"
    before.mkdir()
    for path in sorted(settings().bootstrap_dir.glob("[0-9][0-9][0-9]_*.sql")):
        if path.name[:3] != "060":
            shutil.copy(path, before / path.name)
    name = f"mcpa_test_{secrets.token_hex(6)}"
    with psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = db.with_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, before)
        yield url
    finally:
        with psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _summaries(conn: psycopg.Connection) -> dict[str, tuple]:
    """The seed's materialized views: populated, their indexes, their privileges."""
    return {
        name: (populated, indexes, acl)
        for name, populated, indexes, acl in conn.execute(
            """
            select c.relname, c.relispopulated,
                (select array_agg(pg_get_indexdef(i.indexrelid) order by 1)
                 from pg_index as i where i.indrelid = c.oid),
                array(select a::text from unnest(c.relacl) as a order by 1)
            from pg_class as c
            where c.relkind = 'm' and c.relnamespace = 'public'::regnamespace
            """
        ).fetchall()
    }


def test_widening_keeps_views_and_marts_and_carries_long_labels(old_warehouse, tmp_path):
    url = old_warehouse
    project = copy_project(tmp_path / "dbt_project")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(url, autocommit=True) as conn:
        load_synthetic(conn, start=now - timedelta(hours=6), hours=6, calls=60, requests=40)
        conn.execute("select * from refresh_analytics_views()")
        before = _summaries(conn)
    proc = run_in(project, url, "build")  # staging views and marts at the seed's widths
    assert proc.returncode == 0, output(proc)

    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap(conn, settings().bootstrap_dir)
        assert _summaries(conn) == before  # dropped and created again as they were
        assert before["hourly_tool_usage_summary"][0] is True
        widths = dict(
            conn.execute(
                "select table_name || '.' || column_name, character_maximum_length"
                " from information_schema.columns where table_schema = 'analytics'"
                " and column_name in ('tool_name', 'bcp_name', 'method', 'metric_name')"
            ).fetchall()
        )
        assert widths["hourly_tool_usage_summary.tool_name"] == 128
        assert widths["daily_tool_usage_summary.bcp_name"] == 255
        assert widths["hourly_request_summary.method"] == 32
        assert widths["performance_metrics_summary.metric_name"] == 255
        stamp = now - timedelta(minutes=30)
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp") values (%s, %s, %s, %s, 5, true, %s)',
            ("wide-1", SERVER, TOOL, "tools/call", stamp),
        )
        conn.execute(
            "insert into mcp_request_logs (request_id, method, path, response_status_code,"
            ' duration_ms, success, "timestamp") values (%s, %s, %s, 207, 5, true, %s)',
            ("wide-2", METHOD, "/dav", stamp),
        )
        conn.execute(
            "insert into performance_metrics (metric_name, metric_value, aggregation_period,"
            ' "timestamp") values (%s, 1, %s, %s)',
            (METRIC, "1h", stamp),
        )

    proc = run_in(project, url, "build")  # the views come back, the marts run incrementally
    assert proc.returncode == 0, output(proc)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from analytics.hourly_tool_usage_summary"
            " where tool_name = %s and bcp_name = %s",
            (TOOL, SERVER),
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from analytics.hourly_request_summary where method = %s", (METHOD,)
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from analytics.performance_metrics_summary where metric_name = %s",
            (METRIC,),
        ).fetchone() == (1,)

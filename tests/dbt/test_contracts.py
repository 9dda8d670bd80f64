"""Contracts on the marts: the column types analysts query are pinned, and enforced by dbt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.demo.synthetic import load_synthetic

from .project_copy import copy_project, manifest, output, run_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("contracts") / "dbt_project")


def _marts(target: Path) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest(target)["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


def _physical_types(conn: psycopg.Connection, relation: str) -> dict[str, str]:
    rows = conn.execute(
        "select attname, format_type(atttypid, atttypmod) from pg_attribute"
        " where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (relation,),
    ).fetchall()
    return dict(rows)


def _declared_types(conn: psycopg.Connection, columns: dict[str, dict]) -> dict[str, str]:
    """The declared data_types as PostgreSQL spells them (typmods included)."""
    probe = sql.SQL("create temporary table contract_probe ({})").format(
        sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(column["data_type"]))
            for name, column in columns.items()
        )
    )
    with conn.transaction():
        conn.execute(probe)
        types = _physical_types(conn, "pg_temp.contract_probe")
        conn.execute("drop table pg_temp.contract_probe")
    return types


def test_every_mart_enforces_the_types_it_builds(module_db: str, project: Path) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(module_db, autocommit=True) as conn:
        load_synthetic(conn, start=now - timedelta(hours=30), hours=30, calls=300, requests=200)
    for _ in range(2):  # the first build creates the marts, the second runs incrementally
        proc = run_in(project, module_db, "build")
        assert proc.returncode == 0, output(proc)
    marts = _marts(project / "target")
    # every model under models/marts/ (its intermediate/ folder included), each a mart
    assert len(marts) == len(list((project / "models" / "marts").rglob("*.sql"))) >= 6
    with psycopg.connect(module_db, autocommit=True) as conn:
        for name, node in marts.items():
            assert node["config"]["contract"]["enforced"] is True, name
            assert all(column.get("data_type") for column in node["columns"].values()), name
            assert _physical_types(conn, f"analytics.{name}") == _declared_types(
                conn, node["columns"]
            ), name


def test_a_model_that_changes_a_type_fails_and_leaves_the_mart(
    module_db: str, project: Path
) -> None:
    model = project / "models" / "marts" / "hourly_request_summary.sql"
    original = model.read_text()
    cast = "avg(queue_time_ms)::integer as avg_queue_time_ms"
    assert cast in original
    model.write_text(original.replace(cast, "avg(queue_time_ms) as avg_queue_time_ms"))
    try:
        with psycopg.connect(module_db, autocommit=True) as conn:
            conn.execute(
                "insert into mcp_request_logs (request_id, method, path, response_status_code,"
                ' duration_ms, queue_time_ms, success, "timestamp")'
                " values ('contract-1', 'GET', '/c', 200, 5, 3, true, now())"
            )
            before = _physical_types(conn, "analytics.hourly_request_summary")
        proc = run_in(project, module_db, "run", "--select", "hourly_request_summary")
        assert proc.returncode != 0, output(proc)
        assert "contract" in proc.stdout.lower(), output(proc)
        assert "avg_queue_time_ms" in proc.stdout, output(proc)
        with psycopg.connect(module_db, autocommit=True) as conn:
            assert _physical_types(conn, "analytics.hourly_request_summary") == before
            # the failed run rolled back: the new hour is still pending for the next run
            pending = conn.execute(
                "select count(*) from mart_dirty_buckets where mart = 'hourly_request_summary'"
            ).fetchone()[0]
            assert pending > 0
    finally:
        model.write_text(original)

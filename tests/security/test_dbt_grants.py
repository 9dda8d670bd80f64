"""After a real `dbt run` (twice: create, then incremental), each role reads what it should.

dbt's grant handling revokes on incremental runs whatever is not in `+grants`, so the second
run is the one that matters.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from psycopg import errors

from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.warehouse.tables import raw_table_names

pytestmark = pytest.mark.slow

TELEMETRY = raw_table_names("telemetry")
CLOSED = raw_table_names("auth") + raw_table_names("config")


@pytest.fixture(scope="module")
def built(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            " duration_ms, success, \"timestamp\") values ('e-1', 'b', 't', 'o', 7, true, %s)",
            (now - dt.timedelta(hours=1),),
        )
    target = tmp_path_factory.mktemp("dbt_target")
    for _ in range(2):
        proc = run_dbt(["run"], url=module_db, target_path=target, capture=True)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return module_db


def relations(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s"
                " order by 1",
                (schema,),
            )
        ]


def test_analyst_reads_marts_and_telemetry_staging_only(built: str, make_login) -> None:
    marts = relations(built, "analytics")
    staging = relations(built, "analytics_staging")
    assert "hourly_tool_usage_summary" in marts
    with psycopg.connect(make_login(built, "mcp_analyst"), autocommit=True) as conn:
        for mart in marts:
            conn.execute(f'select count(*) from analytics."{mart}"')
        for table in TELEMETRY:
            conn.execute(f"select count(*) from analytics_staging.stg_mcp__{table}")
        for table in CLOSED:
            if f"stg_mcp__{table}" in staging:
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(f"select count(*) from analytics_staging.stg_mcp__{table}")


def test_admin_login_still_reads_marts_after_an_incremental_run(built: str, make_login) -> None:
    with psycopg.connect(make_login(built, "mcp_admin"), autocommit=True) as conn:
        for mart in relations(built, "analytics"):
            conn.execute(f'select count(*) from analytics."{mart}"')


def test_ingest_reads_no_mart(built: str, make_login) -> None:
    url = make_login(built, "mcp_ingest")
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("select count(*) from analytics.hourly_tool_usage_summary")

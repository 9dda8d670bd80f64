"""The checks of the seed's two summaries compare the marts with the seed's views themselves
(bootstrap_sql/009, read when the check runs), over what the check compares, on a real database
with dbt run for real: the view's window becomes literal time ranges, so the planner keeps only
the raw partitions of the rebuilt day, and a wrong value in a mart fails its check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse.partitions import upkeep_partitions
from tests.helpers.dbt_project import DbtWarehouse

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
MARTS = ("daily_error_summary", "performance_metrics_summary")
CHECKS = tuple(f"assert_{mart}_matches_raw" for mart in MARTS)
# the marts and what they are built from (the staging views)
SELECTED = tuple(f"+{mart}" for mart in MARTS)
NO_SAMPLE = json.dumps({"mart_exactness_sample_buckets": 0})
FULL = json.dumps({"mart_exactness_scope": "full"})
# only the tests of the selected models and their ancestors (not those of other marts)
BUILDABLE = ("--indirect-selection", "buildable")


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> DbtWarehouse:
    """Forty days of errors and metrics in their monthly partitions (two months at least),
    both marts built and checked."""
    wh = DbtWarehouse(module_db, tmp_path_factory.mktemp("dbt_target"))
    with wh.connect() as conn:
        upkeep_partitions(conn, months_behind=2)
        load_synthetic(
            conn, start=NOW - timedelta(days=40), hours=40 * 24, calls=200, requests=100,
            errors=3000, metrics=3000,
        )  # fmt: skip
    wh.dbt("build", "--select", *SELECTED, *BUILDABLE)
    return wh


def _compiled(wh: DbtWarehouse, check: str) -> str:
    return next(wh.target.glob(f"compiled/*/tests/marts/{check}.sql")).read_text()


def _planned_partitions(wh: DbtWarehouse, table: str, query: str) -> set[str]:
    """The partitions of `table` in the plan of `query` (kept at plan time)."""
    with wh.connect() as conn:
        partitions = {
            row[0]
            for row in conn.execute(
                "select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid "
                "where i.inhparent = %s::regclass",
                (f"public.{table}",),
            )
        }
        plan = json.dumps(
            conn.execute(sql.SQL("explain (format json) ") + sql.SQL(query)).fetchone()[0]
        )
    return {name for name in partitions if f'"{name}"' in plan}


def test_a_rebuilt_day_is_compared_with_the_seed_view_over_that_day(
    warehouse: DbtWarehouse,
) -> None:
    # within the raw retention of both tables, a month's partition among three holding rows
    day = (NOW - timedelta(days=20)).replace(hour=0)
    with warehouse.connect() as conn:
        for mart in MARTS:
            conn.execute(
                "insert into mart_dirty_buckets (mart, bucket) values (%s, %s)",
                (mart, day + timedelta(hours=5)),
            )
    warehouse.dbt("build", "--select", *SELECTED, "--vars", NO_SAMPLE, *BUILDABLE)
    for check, table in zip(CHECKS, ("error_logs", "performance_metrics"), strict=True):
        compiled = _compiled(warehouse, check)
        # the view's own definition (as PostgreSQL prints it), its dates in UTC, its window gone
        assert "FROM " + table in compiled
        # PostgreSQL 15 prints the column qualified (error_logs."timestamp"), 16+ bare
        assert """"timestamp", 'UTC')""" in compiled
        assert "CURRENT_DATE" not in compiled
        assert "1 range(s)" in compiled
        one_row = f"""select 1 from {table} where "timestamp" = '{day:%Y-%m-%d} 12:00+00'"""
        planned = _planned_partitions(warehouse, table, compiled)
        assert planned == _planned_partitions(warehouse, table, one_row), (check, planned)


def test_a_wrong_value_fails_the_check(warehouse: DbtWarehouse) -> None:
    with warehouse.connect() as conn:
        conn.execute(
            "update analytics.daily_error_summary set error_count = error_count + 1 "
            "where day = (select max(day) from analytics.daily_error_summary)"
        )
        conn.execute(
            "update analytics.performance_metrics_summary set max_value = max_value + 1 where "
            "time_bucket = (select max(time_bucket) from analytics.performance_metrics_summary)"
        )
    try:
        results = warehouse.dbt("test", "--select", *CHECKS, "--vars", FULL, expect_ok=False)
        failed = {
            r["unique_id"].split(".")[-1]: r["failures"]
            for r in results["results"]
            if r["status"] == "fail"
        }
        assert failed.keys() == set(CHECKS)
        # each changed row is only in the mart, and its right value only in the view
        assert all(count >= 2 for count in failed.values()), failed
    finally:
        # the marts' rows again, as late data would have them rebuilt
        with warehouse.connect() as conn:
            for mart, bucket in (
                ("daily_error_summary", "max(day)"),
                ("performance_metrics_summary", "date_trunc('hour', max(time_bucket), 'UTC')"),
            ):
                conn.execute(
                    sql.SQL(
                        "insert into mart_dirty_buckets (mart, bucket) "
                        "select {mart}, {bucket} from analytics.{table}"
                    ).format(
                        mart=sql.Literal(mart), bucket=sql.SQL(bucket), table=sql.Identifier(mart)
                    )
                )
        warehouse.dbt("build", "--select", *SELECTED, *BUILDABLE)

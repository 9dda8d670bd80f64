"""The exactness checks filter on literal time ranges, on a real database with dbt run for real.

`mart_exactness_checked` reads what a check compares when the test runs and
`mart_exactness_where` writes it as literal ranges, so the planner keeps only the raw partitions
those ranges touch; past 50 ranges the ranges span gaps and the buckets are listed too, and what
was rebuilt is still compared, and nothing else. The sample is off (var
`mart_exactness_sample_buckets: 0`) so that a test knows what a build compares.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.dbt_project import DbtWarehouse

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOURS = 130
CHECK = "assert_hourly_tool_usage_summary_matches_raw"
MART = "hourly_tool_usage_summary"
NO_SAMPLE = json.dumps({"mart_exactness_sample_buckets": 0})
# only the tests of the selected models and their ancestors (not those of other marts)
BUILDABLE = ("--indirect-selection", "buildable")
RANGE = re.compile(
    r'raw_calls\."timestamp" >= \'([^\']+)\'::timestamptz '
    r'and raw_calls\."timestamp" < \'([^\']+)\'::timestamptz'
)


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> DbtWarehouse:
    """HOURS hours of telemetry, the hourly tool summary built (and checked)."""
    wh = DbtWarehouse(module_db, tmp_path_factory.mktemp("dbt_target"))
    with wh.connect() as conn:
        load_synthetic(conn, start=NOW - timedelta(hours=HOURS), hours=HOURS, calls=3000)
    wh.dbt("build", "--select", f"+{MART}", *BUILDABLE)
    return wh


def _compiled(wh: DbtWarehouse) -> str:
    return next(wh.target.glob(f"compiled/*/tests/marts/{CHECK}.sql")).read_text()


def _mark_dirty(wh: DbtWarehouse, hours: list[datetime]) -> None:
    with wh.connect() as conn:
        for hour in hours:
            conn.execute(
                "insert into mart_dirty_buckets (mart, bucket) values (%s, %s)", (MART, hour)
            )


def _scanned_partitions(wh: DbtWarehouse, query: str) -> set[str]:
    """The partitions of tool_usage_logs in the plan of `query` (kept at plan time)."""
    with wh.connect() as conn:
        partitions = {
            row[0]
            for row in conn.execute(
                "select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid "
                "where i.inhparent = 'public.tool_usage_logs'::regclass"
            )
        }
        plan = json.dumps(
            conn.execute(sql.SQL("explain (format json) ") + sql.SQL(query)).fetchone()[0]
        )
    return {name for name in partitions if f'"{name}"' in plan}


def _ranges(compiled: str) -> list[tuple[datetime, datetime]]:
    """The ranges the check reads its raw rows from, as written in its compiled SQL."""
    found = RANGE.findall(compiled)
    return [(datetime.fromisoformat(lo), datetime.fromisoformat(hi)) for lo, hi in found]


def test_a_rebuilt_hour_is_a_literal_range_and_only_its_partition_is_planned(
    warehouse: DbtWarehouse,
) -> None:
    hour = NOW - timedelta(hours=5)
    _mark_dirty(warehouse, [hour])
    warehouse.dbt("build", "--select", MART, "--vars", NO_SAMPLE, *BUILDABLE)
    compiled = _compiled(warehouse)
    literal = f"'{hour:%Y-%m-%d %H:%M:%S}+00'::timestamptz"
    end = f"'{hour + timedelta(hours=1):%Y-%m-%d %H:%M:%S}+00'::timestamptz"
    assert f'raw_calls."timestamp" >= {literal} and raw_calls."timestamp" < {end}' in compiled
    assert "1 range(s)" in compiled
    # the check's query keeps the rebuilt hour's partition only, whatever the history holds
    one_row = f'select 1 from tool_usage_logs where "timestamp" = {literal}'
    assert _scanned_partitions(warehouse, compiled) == _scanned_partitions(warehouse, one_row)


def test_past_fifty_ranges_the_rebuilt_hours_are_compared_and_nothing_else(
    warehouse: DbtWarehouse,
) -> None:
    """Every other hour rebuilt (60 islands): the ranges span gaps and the hours are listed. A
    wrong value in a rebuilt hour fails the check; one in an hour between two rebuilt ones (in
    a spanned gap, not rebuilt) is not compared."""
    rebuilt = [NOW - timedelta(hours=2 * i + 2) for i in range(60)]
    _mark_dirty(warehouse, rebuilt)
    warehouse.dbt("build", "--select", MART, "--vars", NO_SAMPLE, *BUILDABLE)
    compiled = _compiled(warehouse)
    assert "50 range(s)" in compiled
    assert "= any(array[" in compiled
    ranges = _ranges(compiled)
    assert len(ranges) == 50
    skewed, between = rebuilt[4], rebuilt[4] + timedelta(hours=1)
    assert any(lo <= between < hi for lo, hi in ranges)

    with warehouse.connect() as conn:
        for hour in (skewed, between):
            conn.execute(
                "update analytics.hourly_tool_usage_summary set total_calls = total_calls + 1 "
                "where ctid = (select ctid from analytics.hourly_tool_usage_summary "
                "where hour = %s limit 1)",
                (hour,),
            )
    results = warehouse.dbt("test", "--select", CHECK, "--vars", NO_SAMPLE, expect_ok=False)
    check = next(r for r in results["results"] if r["unique_id"].endswith(CHECK))
    # the skewed group, once as the mart has it and once recomputed; not the one in `between`
    assert (check["status"], check["failures"]) == ("fail", 2)

    # repaired: both hours rebuilt, the check passes
    _mark_dirty(warehouse, [skewed, between])
    warehouse.dbt("build", "--select", MART, "--vars", NO_SAMPLE, *BUILDABLE)

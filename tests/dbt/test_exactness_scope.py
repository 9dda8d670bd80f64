"""What the dbt exactness tests compare, on a real database with dbt run for real.

Every build compares the buckets each mart's run rebuilt (recorded by its post-hook in
mart_last_rebuilt) plus a seeded sample of the others; `mart_exactness_scope: full` (the daily
maintenance job) compares the whole history. The sample is switched off here (var
`mart_exactness_sample_buckets: 0`) wherever a test needs to know what a build compares.
The tests build and check the two tool summaries only (MARTS), whatever else the project holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.dbt.runner import run_dbt, run_results
from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.db import scalar

from .marts_reference import (
    DAILY_TOOL_COLUMNS,
    DAILY_TOOL_REFERENCE,
    ERROR_CLASS_COLUMNS,
    HOURLY_CLASS_REFERENCE,
    diff_rows,
    seed_mart_diff,
)

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOURLY_CHECK = "assert_hourly_tool_usage_summary_matches_raw"
MARTS = ("--select", "hourly_tool_usage_summary daily_tool_usage_summary")
NO_SAMPLE = json.dumps({"mart_exactness_sample_buckets": 0})
FULL = json.dumps({"mart_exactness_scope": "full"})


class Warehouse:
    def __init__(self, url: str, target: Path) -> None:
        self.url, self.target = url, target

    def dbt(self, *args: str) -> tuple[int, dict[str, dict]]:
        """dbt's exit status and its results by node name (tests: status and failures)."""
        proc = run_dbt(list(args), url=self.url, target_path=self.target, capture=True)
        results = run_results(self.target)["results"]
        by_name = {r["unique_id"].split(".")[-1]: r for r in results}
        assert proc.returncode in (0, 1), proc.stdout[-6000:] + proc.stderr[-3000:]
        return proc.returncode, by_name

    def rebuilt(self, mart: str) -> set[datetime]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "select bucket from mart_last_rebuilt where mart = %s", (mart,)
            ).fetchall()
        return {r[0] for r in rows}

    def rebuild(self, hour: datetime) -> None:
        """Mark `hour` dirty and build the marts: they are exact, and `hour` is what the hourly
        mart's last run rebuilt."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "insert into mart_dirty_buckets (mart, bucket) "
                "values ('hourly_tool_usage_summary', %s)",
                (hour,),
            )
        _, results = self.dbt("build", *MARTS)
        assert _failed(results) == {}
        with psycopg.connect(self.url, autocommit=True) as conn:
            assert seed_mart_diff(conn, "hourly_tool_usage_summary") == (0, 0)
            hourly_classes = (
                "select hour, bcp_name, tool_name, operation, "
                f"{ERROR_CLASS_COLUMNS} from analytics.hourly_tool_usage_summary"
            )
            assert diff_rows(conn, hourly_classes, HOURLY_CLASS_REFERENCE) == (0, 0)
            daily = f"select {DAILY_TOOL_COLUMNS} from analytics.daily_tool_usage_summary"
            assert diff_rows(conn, daily, DAILY_TOOL_REFERENCE) == (0, 0)


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Three days of telemetry, built (the first build rebuilds, and checks, every bucket)."""
    wh = Warehouse(module_db, tmp_path_factory.mktemp("dbt_target"))
    with psycopg.connect(module_db, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(days=3), hours=72, seed=0.7)
    _, results = wh.dbt("build", "--select", "+daily_tool_usage_summary")
    assert results[HOURLY_CHECK]["status"] == "pass"
    assert _failed(results) == {}
    return wh


def _failed(results: dict[str, dict]) -> dict[str, int]:
    """Failed tests and their failing rows (a test of a mart someone is still writing may
    end in an error; that is not a failed comparison)."""
    return {name: r["failures"] for name, r in results.items() if r["status"] == "fail"}


def _groups(url: str, hour: datetime) -> int:
    return scalar(
        url, "select count(*) from analytics.hourly_tool_usage_summary where hour = %s", (hour,)
    )


def test_a_wrong_value_in_a_bucket_the_run_rebuilt_fails_the_build(warehouse: Warehouse) -> None:
    """A run that writes a wrong value into the hour it rebuilds fails its own build's check."""
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        load_synthetic(conn, start=NOW, hours=1, calls=200, seed=0.2, tag="new")
        # the model's insert into the mart goes wrong, for that hour only
        conn.execute(
            sql.SQL(
                """
                create function public.skew_total_calls() returns trigger language plpgsql as $$
                begin
                    if new.hour = {}::timestamptz then
                        new.total_calls := new.total_calls + 1;
                    end if;
                    return new;
                end $$
                """
            ).format(sql.Literal(NOW.isoformat()))
        )
        conn.execute(
            "create trigger skew before insert on analytics.hourly_tool_usage_summary "
            "for each row execute function public.skew_total_calls()"
        )
    try:
        status, results = warehouse.dbt(
            "build", "--select", "hourly_tool_usage_summary", "--vars", NO_SAMPLE
        )
    finally:
        with psycopg.connect(warehouse.url, autocommit=True) as conn:
            conn.execute("drop trigger skew on analytics.hourly_tool_usage_summary")
            conn.execute("drop function public.skew_total_calls()")
    assert warehouse.rebuilt("hourly_tool_usage_summary") == {NOW}
    assert status == 1
    check = results[HOURLY_CHECK]
    # every group of the rebuilt hour, once as the mart has it and once as recomputed
    assert check["status"] == "fail"
    assert check["failures"] == 2 * _groups(warehouse.url, NOW) > 0
    warehouse.rebuild(NOW)


def test_a_wrong_value_in_an_old_bucket_fails_the_daily_check(warehouse: Warehouse) -> None:
    """A build's checks read what the build rebuilt (and a sample); the daily check reads the
    whole history and finds an old wrong value."""
    old_hour = NOW - timedelta(days=2, hours=5)
    warehouse.rebuild(NOW - timedelta(hours=1))
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute(
            "update analytics.hourly_tool_usage_summary set total_calls = total_calls + 1 "
            "where ctid = (select ctid from analytics.hourly_tool_usage_summary "
            "where hour = %s limit 1)",
            (old_hour,),
        )
    assert old_hour not in warehouse.rebuilt("hourly_tool_usage_summary")
    _, results = warehouse.dbt("test", *MARTS, "--vars", NO_SAMPLE)
    assert results[HOURLY_CHECK]["status"] == "pass"
    assert _failed(results) == {}

    _, results = warehouse.dbt("test", *MARTS, "--vars", FULL)
    failed = _failed(results)
    # one group of one hour differs: once in the mart, once recomputed (the daily summary,
    # built before the change, stays exact)
    assert failed == {HOURLY_CHECK: 2}

    # a sample as large as the history reaches the old hour too
    whole_sample = json.dumps({"mart_exactness_sample_buckets": 1000})
    status, results = warehouse.dbt("test", "--select", HOURLY_CHECK, "--vars", whole_sample)
    assert (status, results[HOURLY_CHECK]["failures"]) == (1, 2)
    warehouse.rebuild(old_hour)

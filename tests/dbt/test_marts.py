"""The dbt marts on a real database, with dbt run for real.

One bootstrapped database per module: the first build and a three-day load are module fixtures
(made once, by whichever test needs them first), so any test passes run alone. After each load
and incremental build every mart must equal a recomputation from the raw rows
(marts_reference.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.db import scalar
from tests.helpers.dbt_project import DbtWarehouse

from .marts_reference import all_mart_diffs

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
EXACT = {
    "hourly_tool_usage_summary": (0, 0),
    "hourly_tool_usage_summary (error classes)": (0, 0),
    "daily_error_summary": (0, 0),
    "performance_metrics_summary": (0, 0),
    "hourly_request_summary": (0, 0),
    "daily_tool_usage_summary": (0, 0),
}


@dataclass
class Warehouse(DbtWarehouse):
    """dbt on the module's database, with the comparison of every mart to its reference."""

    def diffs(self) -> dict[str, tuple[int, int]]:
        with self.connect() as conn:
            return all_mart_diffs(conn)

    def settle(self) -> None:
        """Build what an earlier test left in the ledger, so a test starts from exact marts."""
        if scalar(self.url, "select count(*) from mart_dirty_buckets"):
            self.dbt("build")


@dataclass(frozen=True)
class FirstBuild:
    """What `dbt build` did on the freshly bootstrapped, empty database."""

    statuses: dict[str, str]
    hourly_rows: int
    mart_policies: int


@dataclass(frozen=True)
class Load:
    """Three days of telemetry loaded after the first build, then built."""

    pending_before: int
    diffs_after: dict[str, tuple[int, int]]
    pending_after: int
    daily_rows_after: int


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return Warehouse(module_db, tmp_path_factory.mktemp("dbt_target"))


@pytest.fixture(scope="module")
def first_build(warehouse: Warehouse) -> FirstBuild:
    """The module's first `dbt build`, on no data (every test that builds comes after it)."""
    results = warehouse.dbt("build")
    return FirstBuild(
        statuses={r["unique_id"]: r["status"] for r in results["results"]},
        hourly_rows=scalar(
            warehouse.url, "select count(*) from analytics.hourly_tool_usage_summary"
        ),
        mart_policies=scalar(
            warehouse.url,
            "select count(*) from data_retention_policies where table_name like 'analytics.%%'",
        ),
    )


@pytest.fixture(scope="module")
def loaded(warehouse: Warehouse, first_build: FirstBuild) -> Load:
    """Three days of telemetry up to NOW, built into the marts, once per module."""
    with warehouse.connect() as conn:
        load_synthetic(conn, start=NOW - timedelta(days=3), hours=72, seed=0.1)
    pending = scalar(warehouse.url, "select count(*) from mart_dirty_buckets")
    warehouse.dbt("build")
    return Load(
        pending_before=pending,
        diffs_after=warehouse.diffs(),
        pending_after=scalar(warehouse.url, "select count(*) from mart_dirty_buckets"),
        daily_rows_after=scalar(
            warehouse.url, "select count(*) from analytics.daily_tool_usage_summary"
        ),
    )


def _refreshed(wh: Warehouse) -> dict[datetime, datetime]:
    with wh.connect() as conn:
        rows = conn.execute(
            "select hour, max(refreshed_at) from analytics.hourly_tool_usage_summary group by hour"
        ).fetchall()
    return dict(rows)


def _model_result(results: dict, model: str) -> dict:
    return next(r for r in results["results"] if r["unique_id"] == f"model.mcp_analytics.{model}")


def test_build_on_a_fresh_database(warehouse: Warehouse, first_build: FirstBuild) -> None:
    statuses = first_build.statuses
    assert all(s in ("success", "pass") for s in statuses.values()), statuses
    assert "model.mcp_analytics.hourly_request_summary" in statuses
    assert first_build.hourly_rows == 0
    # the incremental marts registered their own retention policies, one each (their
    # post-hook, as dbt configured it: written in the model or by mart_dirty_buckets_config);
    # marts rebuilt whole on each run keep no history to retain
    nodes = json.loads((warehouse.target / "manifest.json").read_text())["nodes"].values()
    models = [node for node in nodes if node["resource_type"] == "model"]
    incremental = {
        node["name"] for node in models if node["config"]["materialized"] == "incremental"
    }
    releasing = {
        node["name"]
        for node in models
        if any("mart_release_dirty(" in hook["sql"] for hook in node["config"]["post-hook"])
    }
    assert releasing == incremental
    assert first_build.mart_policies == len(incremental) >= 5


def test_initial_load_equals_recomputation(loaded: Load) -> None:
    assert loaded.pending_before > 0
    assert loaded.diffs_after == EXACT
    assert loaded.pending_after == 0
    assert loaded.daily_rows_after > 0


def test_new_hour_late_rows_and_updates_rebuild_only_their_buckets(
    warehouse: Warehouse, loaded: Load
) -> None:
    warehouse.settle()
    before = _refreshed(warehouse)
    late_hour = NOW - timedelta(hours=5)
    days_late_hour = NOW - timedelta(days=2, hours=7)
    with warehouse.connect() as conn:
        # a new hour of data, rows hours late, rows days late
        for start, calls, requests, errors, metrics, seed, tag in (
            (NOW, 300, 200, 30, 80, 0.2, "new"),
            (late_hour, 40, 30, 10, 10, 0.3, "late"),
            (days_late_hour, 40, 30, 10, 10, 0.4, "dayslate"),
        ):
            load_synthetic(
                conn, start=start, hours=1, calls=calls, requests=requests, errors=errors,
                metrics=metrics, seed=seed, tag=tag,
            )  # fmt: skip
        # resolving errors changes resolved_count of their (old) days; deletes shrink groups
        conn.execute("update error_logs set resolved = true where id % 3 = 0 and not resolved")
        conn.execute("delete from performance_metrics where id % 11 = 0")
        conn.execute("delete from mcp_request_logs where id % 13 = 0")
        dirty = {
            r[0]
            for r in conn.execute(
                "select bucket from mart_dirty_buckets where mart = 'hourly_tool_usage_summary'"
            )
        }
    assert dirty == {NOW, late_hour, days_late_hour}

    results = warehouse.dbt("build")
    assert warehouse.diffs() == EXACT
    assert scalar(warehouse.url, "select count(*) from mart_dirty_buckets") == 0

    after = _refreshed(warehouse)
    touched = {hour for hour in after if after[hour] != before.get(hour)}
    assert touched == dirty
    # dbt's own account: the hourly mart inserted only the rows of the three hours
    inserted = scalar(
        warehouse.url,
        "select count(*) from analytics.hourly_tool_usage_summary where hour = any(%s)",
        (list(dirty),),
    )
    message = _model_result(results, "hourly_tool_usage_summary")["adapter_response"]["_message"]
    assert message == f"INSERT 0 {inserted}"


def test_in_flight_transaction_is_not_lost(warehouse: Warehouse, loaded: Load) -> None:
    """An entry committed after a run's snapshot stays for the next run (no id watermark)."""
    old_hour = NOW - timedelta(days=1, hours=3)
    with warehouse.connect() as slow, warehouse.connect() as fast:
        slow.execute("begin")
        load_telemetry_in(slow, old_hour, "slow")  # smaller ledger id, still uncommitted
        load_telemetry_in(fast, NOW, "fast")  # larger ledger id, committed
        warehouse.dbt("run", "--select", "marts")
        slow.execute("commit")
    pending = "select count(*) from mart_dirty_buckets where bucket = %s"
    assert scalar(warehouse.url, pending, (old_hour,)) > 0
    warehouse.dbt("run", "--select", "marts")
    assert warehouse.diffs() == EXACT


def load_telemetry_in(conn: psycopg.Connection, hour: datetime, tag: str) -> None:
    conn.execute(
        """
        insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms,
            success, session_id, "timestamp")
        select %s::text || g, 'bcp_0', 'tool_0', 'read', 100 * g, true, 's',
            %s::timestamptz + g * interval '1 minute'
        from generate_series(1, 5) as g
        """,
        (tag, hour),
    )


def test_histogram_percentiles_within_the_documented_bound(
    warehouse: Warehouse, loaded: Load
) -> None:
    warehouse.settle()
    with warehouse.connect() as conn:
        conn.execute("set timezone = 'UTC'")
        windows = conn.execute(
            """
            with windows (window_start, window_end, label) as (
                values
                    (date_trunc('day', now()) - interval '9 days', now() + interval '1 day', 'all'),
                    (date_trunc('day', now()) - interval '1 day', date_trunc('day', now()), 'day'),
                    (
                        date_trunc('hour', now()) - interval '7 hours',
                        date_trunc('hour', now()) + interval '1 hour',
                        'hours'
                    )
            ),
            merged as (
                select w.label, s.tool_name, q.q,
                    mart_hist_quantile(mart_hist_merge(s.duration_histogram), q.q) as estimate
                from windows as w
                cross join (values (0.5::float8), (0.9), (0.95), (0.99)) as q (q)
                join analytics.hourly_tool_usage_summary as s
                    on s.hour >= w.window_start and s.hour < w.window_end
                group by w.label, s.tool_name, q.q
            ),
            exact as (
                select w.label, t.tool_name, q.q,
                    percentile_cont(q.q) within group (order by t.duration_ms) as exact
                from windows as w
                cross join (values (0.5::float8), (0.9), (0.95), (0.99)) as q (q)
                join tool_usage_logs as t
                    on t."timestamp" >= w.window_start and t."timestamp" < w.window_end
                group by w.label, t.tool_name, q.q
            )
            select exact.label, exact.tool_name, exact.q, exact.exact, merged.estimate
            from exact left join merged using (label, tool_name, q)
            """
        ).fetchall()
    assert len(windows) == 3 * 4 * 4
    for label, tool, q, exact, estimate in windows:
        assert estimate is not None, (label, tool, q)
        assert abs(estimate - exact) <= exact / 128 + 1e-9, (label, tool, q, exact, estimate)
    # not trivially exact: the bucketing does lose precision somewhere
    assert any(abs(e - x) > 0 for *_, x, e in windows)


def test_exactness_tests_fail_on_a_wrong_mart_and_a_dirty_mark_repairs_it(
    warehouse: Warehouse, loaded: Load
) -> None:
    warehouse.settle()
    hour = scalar(warehouse.url, "select max(hour) from analytics.hourly_tool_usage_summary")
    with warehouse.connect() as conn:
        conn.execute(
            "update analytics.hourly_tool_usage_summary set total_calls = total_calls + 1 "
            "where hour = %s",
            (hour,),
        )
    # the whole history (the daily job's scope): this hour need not be what a run rebuilt
    warehouse.dbt(
        "test", "--select", "assert_hourly_tool_usage_summary_matches_raw",
        "--vars", "{mart_exactness_scope: full}", expect_ok=False,
    )  # fmt: skip
    with warehouse.connect() as conn:
        conn.execute(
            "insert into mart_dirty_buckets (mart, bucket) values "
            "('hourly_tool_usage_summary', %s)",
            (hour,),
        )
    warehouse.dbt("build", "--select", "hourly_tool_usage_summary")
    assert warehouse.diffs() == EXACT


def test_source_freshness_and_docs(warehouse: Warehouse, loaded: Load) -> None:
    warehouse.dbt("build")  # consume what earlier tests left, if any
    assert warehouse.diffs() == EXACT
    warehouse.dbt("source", "freshness")
    freshness = json.loads((warehouse.target / "sources.json").read_text())
    checked = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in freshness["results"]}
    assert checked == {
        "tool_usage_logs": "pass",
        "mcp_request_logs": "pass",
        "performance_metrics": "pass",
    }
    warehouse.dbt("docs", "generate")
    catalog = json.loads((warehouse.target / "catalog.json").read_text())
    assert "model.mcp_analytics.daily_tool_usage_summary" in catalog["nodes"]


def test_retention_deletes_and_buckets_past_the_horizon_are_left_alone(
    warehouse: Warehouse, loaded: Load
) -> None:
    """Leaves raw rows older than 2 days deleted: keep it after the whole-history checks."""
    warehouse.settle()
    cutoff = NOW - timedelta(days=2)
    old_hour = NOW - timedelta(days=2, hours=20)
    history = (
        "select hour, bcp_name, tool_name, operation, total_calls, refreshed_at "
        "from analytics.hourly_tool_usage_summary where hour < %s order by 1, 2, 3, 4"
    )
    with warehouse.connect() as conn:
        before = conn.execute(history, (cutoff,)).fetchall()
        pending = scalar(conn, "select count(*) from mart_dirty_buckets")
        with conn.transaction():  # as apply_retention() deletes: the flag and its token (063)
            conn.execute("set local mcp_analytics.retention = 'on'")
            conn.execute(
                "insert into retention_bypass values (pg_backend_pid(), pg_current_xact_id())"
            )
            conn.execute('delete from tool_usage_logs where "timestamp" < %s', (cutoff,))
        assert scalar(conn, "select count(*) from mart_dirty_buckets") == pending
        # raw retention of 2 days: a late row 2 days and 20 hours old is past the horizon
        conn.execute(
            "update data_retention_policies set retention_days = 2 "
            "where table_name = 'tool_usage_logs'"
        )
        load_telemetry_in(conn, old_hour, "too-late")
        marked = "select count(*) from mart_dirty_buckets where bucket = %s"
        assert scalar(conn, marked, (old_hour,)) > 0
    warehouse.dbt("run", "--select", "marts", "--full-refresh")
    with warehouse.connect() as conn:
        # the history survives: no rebuild from partial raw rows, and --full-refresh is ignored
        assert conn.execute(history, (cutoff,)).fetchall() == before
        assert len(before) > 100
        assert scalar(conn, "select count(*) from mart_dirty_buckets") == 0
    # the dbt exactness tests compare only buckets inside raw retention, even over the whole
    # history
    warehouse.dbt("test", "--select", "path:tests/marts", "--vars", "{mart_exactness_scope: full}")


def test_ingest_role_marks_buckets_without_rights_on_the_ledger(warehouse: Warehouse) -> None:
    with warehouse.connect() as conn:
        if not conn.execute("select 1 from pg_roles where rolname = 'mcp_ingest'").fetchone():
            pytest.skip("role mcp_ingest is not bootstrapped")
        before = scalar(conn, "select count(*) from mart_dirty_buckets")
        with conn.transaction():
            conn.execute("set local role mcp_ingest")
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("select count(*) from mart_dirty_buckets")
            conn.execute(
                "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, "
                'duration_ms, success, "timestamp") '
                "values ('ingest-role', 'bcp_0', 'tool_0', 'read', 5, true, now())"
            )
        after = scalar(conn, "select count(*) from mart_dirty_buckets")
    assert after > before

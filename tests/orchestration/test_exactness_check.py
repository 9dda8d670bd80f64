"""The daily whole-history exactness check (`exact_over_history` on each mart), run by Dagster
for real against a real database and real dbt: in the daily job, not in the hourly one; it passes
on exact marts and fails, naming the test, on a wrong value in an old bucket, and on a duplicate
in an old bucket that a build's generic tests (scoped to the rows it rebuilt) do not read."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from mcp_analytics.dbt.runner import run_dbt, run_results
from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.exactness import EXACTNESS_CHECK
from mcp_analytics.orchestration.defs.maintenance import RETENTION
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = pytest.mark.slow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
HOURLY = dg.AssetKey(["marts", "hourly_tool_usage_summary"])
DAILY = dg.AssetKey(["marts", "daily_tool_usage_summary"])
SESSIONS = dg.AssetKey(["marts", "mcp_sessions"])
SESSION_HOURS = dg.AssetKey(["marts", "int_session_hours"])
#: the grain tests of the two session models, scoped to the rows a build rebuilt
HOURS_GRAIN = "unique_combination_of_columns_int_session_hours_hour__bcp_name__session_id"
SESSIONS_GRAIN = (
    "unique_combination_of_columns_mcp_sessions_"
    "bcp_name__session_definition__stream_key__started_at"
)


@pytest.fixture(scope="module")
def defs(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    insert_telemetry(module_db, hours=30, per_hour=6)
    return build_definitions(module_db, str(tmp_path_factory.mktemp("archive")))


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture(scope="module")
def built(defs: dg.Definitions, instance) -> set[dg.AssetKey]:
    """The hourly job run once: the marts it materialized."""
    result = defs.resolve_job_def("hourly_marts").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    return {e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def _exactness(
    defs: dg.Definitions, instance, marts: tuple[dg.AssetKey, ...] = (HOURLY, DAILY)
) -> dict[dg.AssetKey, object]:
    """Run the checks of `marts` (the two tool summaries) as the daily job would; their
    evaluations."""
    checked = {dg.AssetCheckKey(mart, EXACTNESS_CHECK) for mart in marts}
    job = defs.resolve_job_def("daily_maintenance").get_subset(asset_check_selection=checked)
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    assert result.success
    return {
        event.event_specific_data.asset_key: event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _exactness_checks(job: dg.JobDefinition) -> set[dg.AssetKey]:
    graph = job.asset_layer.asset_graph
    return {key.asset_key for key in graph.asset_check_keys if key.name == EXACTNESS_CHECK}


def test_the_whole_history_check_runs_daily_after_retention(defs: dg.Definitions) -> None:
    marts = {
        key for key in defs.resolve_asset_graph().get_all_asset_keys() if key.path[0] == "marts"
    }
    daily = _exactness_checks(defs.resolve_job_def("daily_maintenance"))
    # the session models have no exactness test: their generic tests tagged rebuilt_rows
    assert {HOURLY, DAILY, SESSIONS, SESSION_HOURS} <= daily
    assert _exactness_checks(defs.resolve_job_def("daily_maintenance")) <= marts
    # a build checks what it rebuilt (dbt tests in dbt build), not the whole history
    assert _exactness_checks(defs.resolve_job_def("hourly_marts")) == set()
    spec = defs.resolve_asset_graph().get_check_spec(dg.AssetCheckKey(HOURLY, EXACTNESS_CHECK))
    assert RETENTION in {dep.asset_key for dep in spec.additional_deps}


def test_a_wrong_value_in_an_old_bucket_fails_the_daily_check(
    defs: dg.Definitions, instance, module_db: str, built: set[dg.AssetKey]
) -> None:
    assert {HOURLY, DAILY} <= built
    exact = _exactness(defs, instance)
    assert exact[HOURLY].passed and exact[DAILY].passed, exact
    assert exact[HOURLY].metadata["rows_differing"].value == 0

    old_hour = (datetime.now(UTC) - timedelta(hours=26)).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(module_db, autocommit=True) as conn:
        changed = conn.execute(
            "update analytics.hourly_tool_usage_summary set max_duration_ms = max_duration_ms + 1"
            " where ctid = (select ctid from analytics.hourly_tool_usage_summary"
            " where hour = %s limit 1)",
            (old_hour,),
        ).rowcount
    assert changed == 1
    wrong = _exactness(defs, instance)
    hourly = wrong[HOURLY]
    assert not hourly.passed
    assert hourly.severity == dg.AssetCheckSeverity.ERROR
    # the row as the mart has it and as recomputed
    assert hourly.metadata["rows_differing"].value == 2
    assert hourly.metadata["tests"].value["assert_hourly_tool_usage_summary_matches_raw"] == "fail"
    assert "assert_hourly_tool_usage_summary_matches_raw: 2 rows differ" in hourly.description
    assert wrong[DAILY].passed


def _duplicate_groups(conn: psycopg.Connection, table: str, grain: str, where: str = "true") -> int:
    return conn.execute(
        f"select count(*) from (select 1 from analytics.{table} where {where}"
        f" group by {grain} having count(*) > 1) as duplicated"
    ).fetchone()[0]


def _rebuilt(conn: psycopg.Connection, mart: str) -> set[datetime]:
    rows = conn.execute("select bucket from mart_last_rebuilt where mart = %s", (mart,))
    return {row[0] for row in rows}


def test_a_build_checks_the_rows_it_rebuilt_and_the_daily_check_the_whole_table(
    defs: dg.Definitions, instance, module_db: str, built: set[dg.AssetKey], tmp_path
) -> None:
    """The session models' grain tests in a build read the rows it rebuilt: a duplicate planted
    in an old bucket passes the build after a new hour and fails the daily check, naming the
    test; a duplicate the build itself writes fails the build, counted without the old one."""
    assert {SESSIONS, SESSION_HOURS} <= built
    hours_grain, sessions_grain = (
        "hour, bcp_name, session_id",
        ("bcp_name, session_definition, stream_key, started_at"),
    )
    with psycopg.connect(module_db, autocommit=True) as conn:
        old_hour = conn.execute("select min(hour) from analytics.int_session_hours").fetchone()[0]
        old_day = conn.execute("select min(day) from analytics.mcp_sessions").fetchone()[0]
        # hand-made duplicates in the oldest bucket of each
        for table, column, bucket in (
            ("int_session_hours", "hour", old_hour),
            ("mcp_sessions", "day", old_day),
        ):
            conn.execute(
                f"insert into analytics.{table} select * from analytics.{table}"
                f" where ctid = (select ctid from analytics.{table} where {column} = %s limit 1)",
                (bucket,),
            )
    insert_telemetry(module_db, hours=1, per_hour=3)

    def build(*select: str) -> dict[str, dict]:
        run_dbt(["build", "--select", *select], url=module_db, target_path=tmp_path, capture=True)
        return {r["unique_id"].split(".")[2]: r for r in run_results(tmp_path)["results"]}

    results = build("int_session_hours+")
    assert results[HOURS_GRAIN]["status"] == "pass"
    assert results[SESSIONS_GRAIN]["status"] == "pass"
    assert {r["status"] for r in results.values()} <= {"pass", "success"}, results
    with psycopg.connect(module_db, autocommit=True) as conn:
        rebuilt_hours = _rebuilt(conn, "int_session_hours")
        assert rebuilt_hours and old_hour not in rebuilt_hours
        assert old_day not in _rebuilt(conn, "mcp_sessions")

    daily = _exactness(defs, instance, (SESSION_HOURS, SESSIONS))
    for mart, test in ((SESSION_HOURS, HOURS_GRAIN), (SESSIONS, SESSIONS_GRAIN)):
        assert not daily[mart].passed
        assert daily[mart].metadata["tests"].value[test] == "fail"
        assert daily[mart].description == f"{test}: 1 rows fail"
        assert daily[mart].metadata["rows_failing_generic_tests"].value == 1

    # the model writes every row of the hour it rebuilds twice
    newest = max(rebuilt_hours)
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(
            "create function public.write_twice() returns trigger language plpgsql as $$"
            " begin if pg_trigger_depth() = 1 then"
            " insert into analytics.int_session_hours select (new).*; end if; return null; end $$"
        )
        conn.execute(
            "create trigger twice after insert on analytics.int_session_hours"
            " for each row execute function public.write_twice()"
        )
        conn.execute(
            "insert into mart_dirty_buckets (mart, bucket) values ('int_session_hours', %s)",
            (newest,),
        )
    try:
        results = build("int_session_hours")
    finally:
        with psycopg.connect(module_db, autocommit=True) as conn:
            conn.execute("drop trigger twice on analytics.int_session_hours")
            conn.execute("drop function public.write_twice()")
    with psycopg.connect(module_db, autocommit=True) as conn:
        assert _rebuilt(conn, "int_session_hours") == {newest}
        written_twice = _duplicate_groups(
            conn, "int_session_hours", hours_grain, f"hour = '{newest.isoformat()}'"
        )
        # the old duplicate is still there, not counted by the build's test
        assert _duplicate_groups(conn, "int_session_hours", hours_grain) == written_twice + 1
        assert _duplicate_groups(conn, "mcp_sessions", sessions_grain) == 1
    assert written_twice > 0
    assert results[HOURS_GRAIN]["status"] == "fail"
    assert results[HOURS_GRAIN]["failures"] == written_twice

    # past 50 ranges of rebuilt buckets: their hull, and only the buckets themselves (the old
    # hour is inside the hull, not among them)
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("delete from mart_last_rebuilt where mart = 'int_session_hours'")
        conn.execute(
            "insert into mart_last_rebuilt (mart, bucket, run_id)"
            " select 'int_session_hours', %s - n * interval '2 hours', 'test'"
            " from generate_series(0, 60) as n where %s - n * interval '2 hours' <> %s",
            (newest, newest, old_hour),
        )
    run_dbt(["test", "--select", HOURS_GRAIN], url=module_db, target_path=tmp_path, capture=True)
    result = {r["unique_id"].split(".")[2]: r for r in run_results(tmp_path)["results"]}
    assert (result[HOURS_GRAIN]["status"], result[HOURS_GRAIN]["failures"]) == (
        "fail",
        written_twice,
    )

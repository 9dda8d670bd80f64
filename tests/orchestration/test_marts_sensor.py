"""The dirty-ledger sensor: it asks for the incremental marts build when the late-data ledger
has work, once per ledger state, never while a build is in flight, at most every
MCPA_MARTS_SENSOR_INTERVAL seconds (60 by default)."""

from __future__ import annotations

import warnings

import dagster as dg
import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.dbt_assets import build_dbt_assets
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.orchestration.defs.sensors import build_sensors
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _sensor(defs: dg.Definitions) -> dg.SensorDefinition:
    return defs.resolve_sensor_def("dirty_marts_sensor")


def _evaluate(sensor, url, instance, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": PostgresResource(database_url=url)}
    )
    return sensor(context)


def test_sensor_asks_for_one_build_per_ledger_state(bootstrapped_db):
    defs = build_definitions(bootstrapped_db)
    sensor = _sensor(defs)
    assert sensor.job_name == "hourly_marts"
    assert sensor.minimum_interval_seconds == 60
    instance = dg.DagsterInstance.ephemeral()
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
    assert isinstance(_evaluate(sensor, bootstrapped_db, instance), dg.SkipReason)

    insert_telemetry(bootstrapped_db, hours=2, per_hour=3)  # the triggers mark buckets dirty
    result = _evaluate(sensor, bootstrapped_db, instance)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
    (newest,) = (
        psycopg.connect(bootstrapped_db)
        .execute("select max(id) from mart_dirty_buckets")
        .fetchone()
    )
    assert result.run_requests[0].run_key == f"ledger-{newest}" and result.cursor == str(newest)
    # The same state again (the build has not consumed it yet): no second request.
    again = _evaluate(sensor, bootstrapped_db, instance, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason)
    # New work after that: a new request.
    insert_telemetry(bootstrapped_db, hours=1, per_hour=1)
    more = _evaluate(sensor, bootstrapped_db, instance, cursor=result.cursor)
    assert isinstance(more, dg.SensorResult) and more.cursor != result.cursor


def test_no_request_while_a_build_is_in_flight(bootstrapped_db):
    defs = build_definitions(bootstrapped_db)
    sensor = _sensor(defs)
    insert_telemetry(bootstrapped_db, hours=1, per_hour=2)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("hourly_marts")
    run = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
    skipped = _evaluate(sensor, bootstrapped_db, instance)
    assert isinstance(skipped, dg.SkipReason) and run.run_id in skipped.skip_message


def test_interval_comes_from_configuration(monkeypatch, bootstrapped_db):
    monkeypatch.setenv("MCPA_MARTS_SENSOR_INTERVAL", "180")
    settings.cache_clear()
    try:
        jobs = {"hourly_marts": dg.define_asset_job("hourly_marts")}
        dbt_models = build_dbt_assets()
        assert build_sensors(jobs, dbt_models)[0].minimum_interval_seconds == 180
        monkeypatch.setenv("MCPA_MARTS_SENSOR_INTERVAL", "soon")
        settings.cache_clear()
        # kept, with a warning
        assert build_sensors(jobs, dbt_models)[0].minimum_interval_seconds == 60
    finally:
        settings.cache_clear()


def _mark(url: str, *marts: str) -> None:
    """The ledger holds one entry, this hour, for each of `marts` and nothing else."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
        for mart in marts:
            conn.execute(
                "insert into mart_dirty_buckets (mart, bucket)"
                " values (%s, date_trunc('hour', now(), 'UTC'))",
                (mart,),
            )


def _request(defs: dg.Definitions, url: str) -> dg.RunRequest:
    result = _evaluate(_sensor(defs), url, dg.DagsterInstance.ephemeral())
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
    return result.run_requests[0]


def _marts(*names: str) -> set[dg.AssetKey]:
    return {dg.AssetKey(["marts", name]) for name in names}


def _checks_on(defs: dg.Definitions, keys: set[dg.AssetKey]) -> set[dg.AssetCheckKey]:
    """Every check of the hourly_marts job whose asset is one of `keys`."""
    job = defs.resolve_job_def("hourly_marts")
    return {check for check in job.asset_layer.asset_graph.asset_check_keys
            if check.asset_key in keys}  # fmt: skip


# (ledger names, marts the run must build): a mart built on a dirty one follows in the same run;
# a mart rebuilt whole only when a table it reads changed.
SELECTIONS = [
    (["hourly_request_summary"], ["hourly_request_summary"]),
    (["error_logs_only_mart_is_no_mart", "daily_error_summary"], ["daily_error_summary"]),
    (
        ["hourly_tool_usage_summary"],
        # tool_inventory reads tool_usage_logs, which the entry says changed
        [
            "hourly_tool_usage_summary",
            "daily_tool_usage_summary",
            "tool_error_budget",
            "tool_inventory",
        ],
    ),  # fmt: skip
    (
        ["daily_tool_version_summary"],
        ["daily_tool_version_summary", "tool_regressions", "tool_inventory"],
    ),
    (["tool_error_budget"], ["tool_error_budget"]),
    # the sessions' hourly partials: their daily merge, the sessions merged from that and
    # their summary follow
    (
        ["int_session_hours"],
        [
            "int_session_hours",
            "int_session_days",
            "mcp_sessions",
            "daily_session_summary",
            "tool_inventory",
        ],
    ),
    (["int_session_days"], ["int_session_days", "mcp_sessions", "daily_session_summary"]),
    (["mcp_sessions"], ["mcp_sessions", "daily_session_summary"]),
]


def test_a_run_selects_the_dirty_marts_and_their_checks_only(bootstrapped_db):
    defs = build_definitions(bootstrapped_db)
    job_checks = _checks_on(defs, set(defs.resolve_job_def("hourly_marts").asset_layer
                                      .asset_graph.get_all_asset_keys()))  # fmt: skip
    for ledger, expected in SELECTIONS:
        _mark(bootstrapped_db, *ledger)
        request = _request(defs, bootstrapped_db)
        assert set(request.asset_selection or ()) == _marts(*expected), ledger
        checks = set(request.asset_check_keys or ())
        assert checks == _checks_on(defs, _marts(*expected)), ledger
        # the exactness test of each selected mart that has one is among its checks
        assert {c.asset_key for c in checks if c.name.endswith("_matches_raw")} <= _marts(*expected)
        assert checks <= job_checks  # no daily whole-history check, no source test
        assert request.tags["mcp_analytics/marts"] == ", ".join(sorted(expected))
        unknown = [name for name in ledger if name.endswith("is_no_mart")]
        assert request.tags.get("mcp_analytics/unknown_marts") == (unknown[0] if unknown else None)
    # the regression checks come with tool_regressions, and not without it
    _mark(bootstrapped_db, "daily_tool_version_summary")
    names = {c.name for c in _request(defs, bootstrapped_db).asset_check_keys or ()}
    assert {"no_release_regression", "no_week_over_week_regression"} <= names
    _mark(bootstrapped_db, "hourly_request_summary")
    names = {c.name for c in _request(defs, bootstrapped_db).asset_check_keys or ()}
    assert not names & {"no_release_regression", "no_week_over_week_regression"}


def test_ledger_names_that_are_no_mart_do_not_crash_the_sensor(bootstrapped_db):
    defs = build_definitions(bootstrapped_db)
    _mark(bootstrapped_db, "dropped_mart", "other_project.mart")
    result = _evaluate(_sensor(defs), bootstrapped_db, dg.DagsterInstance.ephemeral())
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert result.skip_reason is not None
    message = result.skip_reason.skip_message or ""
    assert "dropped_mart, other_project.mart" in message and "no mart asset" in message
    assert result.cursor  # the state is remembered: the next tick does not log it again
    assert isinstance(
        _evaluate(_sensor(defs), bootstrapped_db, dg.DagsterInstance.ephemeral(), result.cursor),
        dg.SkipReason,
    )


@pytest.mark.slow
def test_the_requested_run_builds_and_checks_exactly_its_selection(bootstrapped_db):
    """Executed for real (dbt, Dagster): only the selected mart is built and only its checks
    are evaluated, all passing; its ledger entries are consumed."""
    insert_telemetry(bootstrapped_db, hours=2, per_hour=4)
    proc = run_dbt(["run"], url=bootstrapped_db, capture=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
        conn.execute(
            "insert into mcp_request_logs (request_id, method, path, response_status_code,"
            ' duration_ms, success, "timestamp", ip_address)'
            " values ('late-1', 'GET', '/sensor', 200, 7, true, now(), '10.0.0.2')"
        )
    defs = build_definitions(bootstrapped_db)
    request = _request(defs, bootstrapped_db)
    assert set(request.asset_selection or ()) == _marts("hourly_request_summary")
    job = defs.resolve_job_def("hourly_marts").get_subset(
        asset_selection=set(request.asset_selection or ()),
        asset_check_selection=set(request.asset_check_keys or ()),
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, tags=request.tags
        )
    assert result.success
    built = {
        e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert built == _marts("hourly_request_summary")
    evaluated = {
        dg.AssetCheckKey(e.event_specific_data.asset_key, e.event_specific_data.check_name): e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert set(evaluated) == set(request.asset_check_keys or ())
    assert all(e.event_specific_data.passed for e in evaluated.values())
    with psycopg.connect(bootstrapped_db) as conn:
        assert conn.execute("select count(*) from mart_dirty_buckets").fetchone() == (0,)
        (calls,) = conn.execute(
            "select sum(total_requests) from analytics.hourly_request_summary"
            " where path = '/sensor'"
        ).fetchone()
        assert calls == 1

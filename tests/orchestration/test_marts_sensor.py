"""The dirty-ledger sensor: it asks for the incremental marts build when the late-data ledger
has work, once per ledger state, never while a build is in flight, at most every
MCPA_MARTS_SENSOR_INTERVAL seconds (60 by default)."""

from __future__ import annotations

import warnings

import dagster as dg
import psycopg

from mcp_analytics.config import settings
from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.orchestration.defs.sensors import build_sensors
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)


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
        assert build_sensors(jobs)[0].minimum_interval_seconds == 180
        monkeypatch.setenv("MCPA_MARTS_SENSOR_INTERVAL", "soon")
        settings.cache_clear()
        assert build_sensors(jobs)[0].minimum_interval_seconds == 60  # kept, with a warning
    finally:
        settings.cache_clear()

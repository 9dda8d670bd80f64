"""The scheduled inventory asset under real Dagster (execute_in_process of the registered job)
against a real MCP server (SDK v2 MCPServer over Streamable HTTP, uvicorn on 127.0.0.1): the
servers of system_configuration analytics.inventory_servers are snapshotted with source
schedule, metadata says what was reached, seen and changed; an unreachable server fails the
run by its endpoint while the others are recorded; nothing configured records nothing."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import dagster as dg
import pytest

from mcp_analytics.orchestration.definitions import build_definitions
from tests.analytics.servers.catalog import NAME, build, serving
from tests.helpers.db import rows, set_config
from tests.helpers.web import free_port

warnings.filterwarnings("ignore", category=dg.BetaWarning)

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture(scope="module")
def defs(module_db: str) -> dg.Definitions:
    return build_definitions(module_db)


def _configure(url: str, servers: list) -> None:
    set_config(url, "analytics.inventory_servers", servers)


def _run(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("inventory_snapshots").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    events = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    if events:
        return {
            k: v.value for k, v in events[0].event_specific_data.materialization.metadata.items()
        }
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.event_specific_data.user_failure_data
    return {k: v.value for k, v in data.metadata.items()}


def _snapshots(url: str) -> list[tuple]:
    return rows(
        url,
        "select bcp_name, source, tools, error is not null from mcp_inventory_snapshots"
        " order by id",
    )


def test_registered_job_and_schedule(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("inventory_snapshots")
    assert set(job.asset_layer.executable_asset_keys) == {dg.AssetKey(["inventory", "snapshots"])}
    schedule = defs.resolve_schedule_def("inventory_snapshots_schedule")
    assert schedule.job_name == "inventory_snapshots"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 5, 2, 5, tzinfo=UTC)
    )
    assert len(list(schedule.evaluate_tick(context).run_requests or [])) == 1


def test_nothing_configured_records_nothing(defs: dg.Definitions, module_db: str) -> None:
    result = _run(defs)
    assert result.success
    metadata = _metadata(result)
    assert metadata["servers_configured"] == 0 and metadata["tools_seen"] == 0
    assert _snapshots(module_db) == []


def test_configured_servers_are_snapshotted_and_changes_reported(
    defs: dg.Definitions, module_db: str
) -> None:
    with serving(build("1.0.0")) as url:
        _configure(module_db, [{"url": url, "timeout": 20}])
        first = _run(defs)
    assert first.success
    metadata = _metadata(first)
    assert metadata["servers_configured"] == metadata["servers_reached"] == 1
    assert metadata["tools_seen"] == 3
    assert metadata["changes"] == 6  # everything is new the first time
    assert NAME in metadata["servers"]

    with serving(build("1.1.0", changed=True)) as url:
        _configure(module_db, [url])
        second = _run(defs)
    assert second.success
    metadata = _metadata(second)
    # search changed, archive is new, legacy_export removed
    assert metadata["changes"] == 3
    assert "tool search" in metadata["servers"] and "tool legacy_export" in metadata["servers"]
    assert _snapshots(module_db)[-2:] == [
        (NAME, "schedule", 3, False),
        (NAME, "schedule", 3, False),
    ]


def test_an_unreachable_server_fails_by_name_and_the_others_are_recorded(
    defs: dg.Definitions, module_db: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    before = len(_snapshots(module_db))
    with serving(build("1.1.0", changed=True)) as url:
        _configure(module_db, [{"url": dead, "timeout": 5}, {"url": url}])
        result = _run(defs)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.user_failure_data.description
    assert dead in message and "1 of 2" in message
    metadata = _metadata(result)
    assert metadata["servers_reached"] == 1 and metadata["servers_failed"] == 1
    rows = _snapshots(module_db)[before:]
    # the dead one is a failed snapshot; the live one, after it, is recorded all the same
    assert rows == [(None, "schedule", 0, True), (NAME, "schedule", 3, False)]


def test_a_bad_configuration_fails_naming_the_entry(defs: dg.Definitions, module_db: str) -> None:
    _configure(module_db, [{"port": 80}])
    result = _run(defs)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "analytics.inventory_servers[0]" in message

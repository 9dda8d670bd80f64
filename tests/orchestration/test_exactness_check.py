"""The daily whole-history exactness check (`exact_over_history` on each mart), run by Dagster
for real against a real database and real dbt: in the daily job, not in the hourly one; it passes
on exact marts and fails, naming the test, on a wrong value in an old bucket."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.exactness import EXACTNESS_CHECK
from mcp_analytics.orchestration.defs.maintenance import RETENTION
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = pytest.mark.slow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
HOURLY = dg.AssetKey(["marts", "hourly_tool_usage_summary"])
DAILY = dg.AssetKey(["marts", "daily_tool_usage_summary"])
CHECKED = {dg.AssetCheckKey(HOURLY, EXACTNESS_CHECK), dg.AssetCheckKey(DAILY, EXACTNESS_CHECK)}


@pytest.fixture(scope="module")
def defs(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    insert_telemetry(module_db, hours=30, per_hour=6)
    return build_definitions(module_db, str(tmp_path_factory.mktemp("archive")))


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def _exactness(defs: dg.Definitions, instance) -> dict[dg.AssetKey, object]:
    """Run the two tool summaries' checks as the daily job would; their evaluations."""
    job = defs.resolve_job_def("daily_maintenance").get_subset(asset_check_selection=CHECKED)
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
    assert {HOURLY, DAILY} <= _exactness_checks(defs.resolve_job_def("daily_maintenance"))
    assert _exactness_checks(defs.resolve_job_def("daily_maintenance")) <= marts
    # a build checks what it rebuilt (dbt tests in dbt build), not the whole history
    assert _exactness_checks(defs.resolve_job_def("hourly_marts")) == set()
    spec = defs.resolve_asset_graph().get_check_spec(dg.AssetCheckKey(HOURLY, EXACTNESS_CHECK))
    assert RETENTION in {dep.asset_key for dep in spec.additional_deps}


def test_a_wrong_value_in_an_old_bucket_fails_the_daily_check(
    defs: dg.Definitions, instance, module_db: str
) -> None:
    built = defs.resolve_job_def("hourly_marts").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    materialized = {
        e.asset_key for e in built.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert {HOURLY, DAILY} <= materialized
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

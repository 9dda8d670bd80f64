"""The release-regression checks, run by Dagster for real (the hourly job: dbt build, then the
checks) against a real database: a server whose newest version fails four times as often warns
on `no_release_regression` with that tool's figures, and the run still succeeds; the week over
week check passes when there is nothing to compare."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.regressions import TOOL_REGRESSIONS, check_name

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = pytest.mark.slow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RELEASE = dg.AssetCheckKey(TOOL_REGRESSIONS, check_name("release"))
WEEKLY = dg.AssetCheckKey(TOOL_REGRESSIONS, check_name("week_over_week"))
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

# 1,000 calls per version, 60 hours each: 1.0.0 twenty days ago, 1.1.0 five days ago (so no
# week has both); `lookup` fails 1 % then 4 %, `list` 1 % both times
CALLS = """
insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, duration_ms, success,
    error_code, error_class, tool_version, "timestamp")
select version || '-' || tool || '-' || g, 'check-case', tool, 'tools/call', 20 + mod(g, 30),
    g > errors, case when g <= errors then '-32603' end,
    case when g <= errors then 'server_error' else 'ok' end,
    version, start + g * interval '3 minutes'
from (values ('1.0.0', 'lookup', 10, %(old)s::timestamptz), ('1.1.0', 'lookup', 40, %(new)s),
             ('1.0.0', 'list', 10, %(old)s), ('1.1.0', 'list', 10, %(new)s))
    as versions (version, tool, errors, start)
cross join generate_series(1, 1000) as g
"""


@pytest.fixture(scope="module")
def defs(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(CALLS, {"old": TODAY - timedelta(days=20), "new": TODAY - timedelta(days=5)})
    return build_definitions(module_db, str(tmp_path_factory.mktemp("archive")))


def test_the_checks_run_with_the_hourly_build(defs: dg.Definitions) -> None:
    graph = defs.resolve_job_def("hourly_marts").asset_layer.asset_graph
    assert {RELEASE, WEEKLY} <= set(graph.asset_check_keys)
    assert not {RELEASE, WEEKLY} & set(
        defs.resolve_job_def("daily_maintenance").asset_layer.asset_graph.asset_check_keys
    )


def test_a_regressed_tool_warns_with_its_figures(defs: dg.Definitions) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("hourly_marts").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
    assert result.success  # a WARN check does not fail the build
    checks = {
        dg.AssetCheckKey(e.event_specific_data.asset_key, e.event_specific_data.check_name): (
            e.event_specific_data
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    release = checks[RELEASE]
    assert not release.passed and release.severity == dg.AssetCheckSeverity.WARN
    assert release.metadata["regressed_tools"].value == 1
    assert "check-case/list" not in release.metadata
    (figures,) = release.metadata["check-case/lookup"].value
    assert figures["metric"] == "error_rate"
    assert (figures["version"], figures["previous_version"]) == ("1.1.0", "1.0.0")
    assert (figures["errors_before"], figures["calls_before"]) == (10, 1000)
    assert (figures["errors_after"], figures["calls_after"]) == (40, 1000)
    assert figures["p_value"] < 0.01
    assert "check-case/lookup error_rate 0.010000 -> 0.040000" in release.description
    assert checks[WEEKLY].passed
    assert checks[WEEKLY].description == "no week_over_week regression"

"""dbt's source freshness as Dagster checks: declared once in the dbt sources, a
`source_freshness` check on each raw table that declares it, run with the raw observations, and
the same verdict as `dbt source freshness` on the command line."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.orchestration.definitions import build_definitions

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = pytest.mark.slow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _declared() -> set[str]:
    """Raw tables whose dbt source declares freshness, read from the sources yml itself."""
    path = settings().dbt_project_dir / "models" / "staging" / "_mcp__sources.yml"
    tables = yaml.safe_load(path.read_text())["sources"][0]["tables"]
    return {t["name"] for t in tables if (t.get("config") or {}).get("freshness")}


@pytest.fixture(scope="module")
def defs(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(module_db, str(tmp_path_factory.mktemp("archive")))


def test_each_declared_source_has_a_check_run_with_the_observations(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checked = {
        key.asset_key.path[-1]
        for key in graph.asset_check_keys
        if key.name == "source_freshness" and key.asset_key.path[0] == "raw"
    }
    assert checked == _declared() == {"tool_usage_logs", "mcp_request_logs", "performance_metrics"}
    observe = defs.resolve_job_def("observe_raw")
    in_job = {key.asset_key.path[-1] for key in observe.asset_layer.asset_graph.asset_check_keys}
    assert in_job == checked


def _latest(conn: psycopg.Connection, table: str, age: timedelta) -> None:
    """One row in `table`, `age` old (the newest of the table): event time and receipt both, as
    freshness is measured on receipt (`received_at`)."""
    # Now, not at import: a whole-suite run collects this module many minutes before it runs.
    ts = datetime.now(UTC) - age
    if table == "tool_usage_logs":
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
            ' duration_ms, success, "timestamp", received_at)'
            " values ('fresh-1', 'b', 't', 'o', 1, true, %s, %s)",
            (ts, ts),
        )
    elif table == "mcp_request_logs":
        conn.execute(
            "insert into mcp_request_logs (request_id, method, path, response_status_code,"
            ' duration_ms, success, "timestamp", received_at)'
            " values ('fresh-1', 'GET', '/', 200, 1, true, %s, %s)",
            (ts, ts),
        )
    else:
        conn.execute(
            "insert into performance_metrics (metric_name, metric_value, aggregation_period,"
            " \"timestamp\", received_at) values ('cpu', 1, '1h', %s, %s)",
            (ts, ts),
        )


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    return {
        e.event_specific_data.asset_key.path[-1]: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "source_freshness"
    }


def test_checks_report_dbt_verdicts(defs: dg.Definitions, module_db: str, tmp_path: Path) -> None:
    ages = {
        "tool_usage_logs": timedelta(minutes=30),  # within warn_after (2 h): pass
        "mcp_request_logs": timedelta(hours=5),  # past warn_after: warn
        "performance_metrics": timedelta(hours=30),  # past error_after (24 h): error
    }
    with psycopg.connect(module_db, autocommit=True) as conn:
        for table, age in ages.items():
            _latest(conn, table, age)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("observe_raw").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
    assert result.success  # a stale source fails its check, not the observation run
    found = _evaluations(result)
    verdicts = {
        table: (e.passed, e.severity, e.metadata["status"].value) for table, e in found.items()
    }
    assert verdicts == {
        "tool_usage_logs": (True, dg.AssetCheckSeverity.ERROR, "pass"),
        "mcp_request_logs": (False, dg.AssetCheckSeverity.WARN, "warn"),
        "performance_metrics": (False, dg.AssetCheckSeverity.ERROR, "error"),
    }
    assert found["mcp_request_logs"].metadata["age_hours"].value == pytest.approx(5, abs=0.2)

    # the command line says the same
    run_dbt(["source", "freshness"], url=module_db, target_path=tmp_path, capture=True)
    cli = json.loads((tmp_path / "sources.json").read_text())["results"]
    assert {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in cli} == {
        table: status for table, (_, _, status) in verdicts.items()
    }


def test_a_source_dbt_cannot_measure_fails_its_check(defs: dg.Definitions, module_db: str) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("alter table performance_metrics rename to performance_metrics_away")
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = defs.resolve_job_def("observe_raw").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
            )
    finally:
        with psycopg.connect(module_db, autocommit=True) as conn:
            conn.execute("alter table performance_metrics_away rename to performance_metrics")
    evaluation = _evaluations(result)["performance_metrics"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert 'relation "public.performance_metrics" does not exist' in evaluation.description
    # the others are measured as usual
    assert "status" in _evaluations(result)["tool_usage_logs"].metadata

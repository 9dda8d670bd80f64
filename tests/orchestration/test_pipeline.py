"""Every asset materializes in-process against a real bootstrapped database, raw -> marts ->
maintenance, with dbt for real; the checks (dbt tests and ours) fail when their condition does.

One database for the module; the tests run in file order and build on each other's state.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import pytest

from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.defs.checks import CHECKS
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse.backup import read_backup
from mcp_analytics.warehouse.tables import partitioned_tables
from tests.helpers.db import scalar
from tests.helpers.telemetry import insert_telemetry

warnings.filterwarnings("ignore", category=dg.BetaWarning)
pytestmark = pytest.mark.slow

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture(scope="module")
def backup_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("backups")


@pytest.fixture(scope="module")
def defs(module_db: str, archive_dir: Path, backup_dir: Path) -> dg.Definitions:
    insert_telemetry(module_db, hours=4, per_hour=12)
    return build_definitions(module_db, str(archive_dir), str(backup_dir))


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def run(defs: dg.Definitions, job: str, instance, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET, **kwargs
    )


def checks(result) -> dict[tuple[str, str], object]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[(data.asset_key.to_user_string(), data.check_name)] = data
    return out


def materialized(result, kind: str = "ASSET_MATERIALIZATION") -> dict[str, dict]:
    return {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        if kind == "ASSET_MATERIALIZATION"
        else e.event_specific_data.asset_observation.metadata
        for e in result.all_events
        if e.event_type_value == kind
    }


def error_text(event) -> str:
    error, parts = event.event_specific_data.error, []
    while error is not None:
        parts.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    return "\n".join(parts)


def test_observing_the_raw_tables_records_their_state(defs, instance, module_db):
    result = run(defs, "observe_raw", instance)
    assert result.success
    observed = materialized(result, "ASSET_OBSERVATION")
    usage = observed["raw/tool_usage_logs"]
    assert usage["row_count"].value == scalar(module_db, "select count(*) from tool_usage_logs") > 0
    assert usage["default_partition_rows"].value == 0
    newest = scalar(module_db, 'select max("timestamp") from tool_usage_logs')
    assert usage["newest_timestamp"].value == pytest.approx(newest.timestamp())
    assert "default_partition_rows" not in observed["raw/error_logs"]


def test_hourly_build_materializes_every_model_and_passes_the_dbt_tests(defs, instance, module_db):
    result = run(defs, "hourly_marts", instance)
    assert result.success
    graph = defs.resolve_asset_graph()
    models = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name in ("staging", "marts")
    }
    assert set(materialized(result)) == models
    evaluations = checks(result)
    assert evaluations and all(e.passed for e in evaluations.values())
    calls = scalar(module_db, "select sum(total_calls) from analytics.hourly_tool_usage_summary")
    assert calls == scalar(module_db, "select count(*) from tool_usage_logs")


def test_daily_maintenance_upkeeps_retains_archives_exports_and_backs_up(
    defs, instance, module_db, archive_dir, backup_dir
):
    # Old rows in their own (back-filled) monthly partitions, past the 90/60-day retention.
    with psycopg.connect(module_db, autocommit=True) as conn:
        for table in (t.name for t in partitioned_tables()):
            conn.execute("select create_monthly_partitions(%s, 0, 7)", (table,))
        # a month whose partition is missing: upkeep must create it
        conn.execute("drop table tool_usage_logs_" + _month(3))
    old = insert_telemetry(
        module_db, hours=2, per_hour=10, end=datetime.now(UTC) - timedelta(days=150)
    )
    assert run(defs, "hourly_marts", instance).success  # the marts summarise them first
    before = scalar(module_db, "select sum(total_calls) from analytics.hourly_tool_usage_summary")

    result = run(defs, "daily_maintenance", instance)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    starts = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert starts.index("maintenance__partition_upkeep") < starts.index("maintenance__retention")
    assert starts.index("maintenance__retention") < starts.index("maintenance__archive_export")
    assert starts.index("maintenance__archive_export") < starts.index("maintenance__backup")

    meta = materialized(result)
    assert meta["maintenance/partition_upkeep"]["partitions_created/tool_usage_logs"].value == 1
    retention = meta["maintenance/retention"]
    assert retention["rows_archived/tool_usage_logs"].value == old
    assert retention["rows_deleted/mcp_request_logs"].value == old
    assert retention["duration_ms"].value >= 0
    export = meta["maintenance/archive_export"]
    assert export["rows_exported/tool_usage_logs"].value == old
    files = sorted((archive_dir / "tool_usage_logs").glob("*.parquet"))
    assert files and sum(pq.ParquetFile(f).metadata.num_rows for f in files) == old
    # the backup, last: its manifest names the Parquet files just written
    backup = meta["maintenance/backup"]
    dump = Path(backup["backup_path"].value)
    assert dump.parent == backup_dir and dump.stat().st_size == backup["backup_bytes"].value
    manifest = read_backup(dump).manifest
    assert {f["path"] for f in manifest.inventory.archive_files} >= {str(f) for f in files}
    assert backup["backups_kept"].value >= 1
    assert scalar(module_db, "select count(*) from pg_tables where schemaname = 'archive'"
                  " and tablename <> 'archived_partitions'") == 0  # fmt: skip
    # the raw rows are gone, the marts keep their history
    assert scalar(module_db, "select count(*) from tool_usage_logs where \"timestamp\" < now()"
                  " - interval '90 days'") == 0  # fmt: skip
    after = scalar(module_db, "select sum(total_calls) from analytics.hourly_tool_usage_summary")
    assert after == before
    evaluations = checks(result)
    assert evaluations[("raw/tool_usage_logs", "default_partition_empty")].passed
    assert evaluations[("raw/tool_usage_logs", "no_rows_past_retention_cutoff")].passed
    assert evaluations[
        ("maintenance/retention", "retention_horizon_exceeds_late_data_window")
    ].passed


def _month(offset: int) -> str:
    now = datetime.now(UTC)
    month = now.month + offset
    return f"{now.year + (month - 1) // 12}_{(month - 1) % 12 + 1:02d}"


def test_custom_checks_fire_when_broken(defs, instance, module_db):
    far = datetime(2099, 1, 1, tzinfo=UTC)  # minus a minute: 2098-12-31
    late = datetime.now(UTC) - timedelta(days=200)
    insert_telemetry(module_db, hours=1, per_hour=1, end=far)  # no partition: lands in DEFAULT
    insert_telemetry(module_db, hours=1, per_hour=1, end=late)  # older than retention, arriving now
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(
            "update data_retention_policies set retention_days = 1"
            " where table_name = 'performance_metrics'"
        )
    try:
        job = dg.define_asset_job(
            "custom_checks", selection=dg.AssetSelection.checks(*CHECKS)
        ).resolve(asset_graph=defs.resolve_asset_graph())
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET,
            resources=defs.resources,
        )  # fmt: skip
        evaluations = checks(result)
        default = evaluations[("raw/tool_usage_logs", "default_partition_empty")]
        # the far-future row, and the late one whose month retention already detached
        assert not default.passed and default.metadata["rows_in_default"].value == 2
        assert "2098-12" in default.metadata["months"].value
        late_rows = evaluations[("raw/mcp_request_logs", "no_rows_past_retention_cutoff")]
        assert not late_rows.passed and late_rows.metadata["rows_past_cutoff"].value == 1
        assert late_rows.severity == dg.AssetCheckSeverity.WARN
        horizon = evaluations[
            ("maintenance/retention", "retention_horizon_exceeds_late_data_window")
        ]
        assert not horizon.passed
        assert "performance_metrics" in str(horizon.metadata["problems"].value)
        # ... and retention refuses to run with such a policy
        refused = run(defs, "daily_maintenance", instance)
        assert not refused.success
        failure = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failure[0].step_key == "maintenance__retention"
        assert "late-data window" in error_text(failure[0])
    finally:
        with psycopg.connect(module_db, autocommit=True) as conn:
            conn.execute(
                "update data_retention_policies set retention_days = 30"
                " where table_name = 'performance_metrics'"
            )
            conn.execute("delete from tool_usage_logs where \"timestamp\" >= '2098-01-01'")


def test_a_writer_waits_for_the_warehouse_lock(defs, instance, module_db):
    with psycopg.connect(module_db) as holder:
        holder.execute("select warehouse_lock(false)")  # e.g. retention's transaction
        result = run(
            defs, "hourly_marts", instance,
            resources={"postgres": PostgresResource(database_url=module_db,
                                                    lock_timeout_seconds=1.5)},
        )  # fmt: skip
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "WarehouseBusyError" in error_text(failure[0])
    assert not materialized(result)


def test_a_failing_dbt_test_fails_its_check(defs, instance, module_db):
    # A value the seed's CHECK would refuse, with the CHECK gone: only dbt's test catches it.
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("alter table performance_metrics drop constraint chk_aggregation_period")
        conn.execute(
            "insert into performance_metrics (metric_name, metric_value, aggregation_period)"
            " values ('latency_ms', 1, '2h')"
        )
    result = run(defs, "hourly_marts", instance)
    assert not result.success
    failed = {k: e for k, e in checks(result).items() if not e.passed}
    assert any(
        asset == "raw/performance_metrics" and "aggregation_period" in name
        for asset, name in failed
    ), failed

"""The code location loads: keys, lineage raw -> staging -> marts -> maintenance, checks,
freshness, jobs and schedules; importing it runs nothing; its dbt resource leaves os.environ
alone; the Dagster home and storage URL are what `ui` needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._utils.schedules import cron_string_iterator

from mcp_analytics.config import settings
from mcp_analytics.orchestration.definitions import build_definitions
from mcp_analytics.orchestration.lib.dbt_resource import build_dbt_resource
from mcp_analytics.orchestration.lib.home import DAGSTER_YAML, storage_url
from mcp_analytics.warehouse.tables import RAW_TABLES, partitioned_tables

warnings.filterwarnings("ignore", category=dg.BetaWarning)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions()


@pytest.fixture(scope="module")
def graph(defs: dg.Definitions):
    return defs.resolve_asset_graph()


def keys_in_group(graph, group: str) -> set[dg.AssetKey]:
    return {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == group}


def test_raw_tables_are_observable_assets(graph):
    for table in RAW_TABLES:
        node = graph.get(dg.AssetKey(["raw", table.name]))
        assert node.is_observable, table.name
        assert node.metadata["dagster/table_name"] == table.qualified_name
        assert node.group_name == "raw"


def test_lineage_runs_raw_to_staging_to_marts(graph):
    staging = keys_in_group(graph, "staging")
    marts = keys_in_group(graph, "marts")
    assert staging and marts
    for key in staging:
        # staging models read the raw tables directly (dbt sources -> raw/<table>)
        parents = graph.get(key).parent_keys
        assert parents and all(p.path[0] in ("raw", "staging") for p in parents), key
    for table in RAW_TABLES:
        children = graph.get(dg.AssetKey(["raw", table.name])).child_keys
        assert any(c in staging for c in children), table.name
    for key in marts:
        ancestors = graph.upstream_key_iterator(key)
        assert any(a.path[0] == "raw" for a in ancestors), f"{key} has no raw ancestor"
        assert not any(p.path[0] == "raw" for p in graph.get(key).parent_keys), (
            f"{key} reads raw tables without staging"
        )


def test_maintenance_assets_follow_the_marts(graph):
    upkeep = dg.AssetKey(["maintenance", "partition_upkeep"])
    retention = dg.AssetKey(["maintenance", "retention"])
    export = dg.AssetKey(["maintenance", "archive_export"])
    assert graph.get(upkeep).parent_keys == {
        dg.AssetKey(["raw", t.name]) for t in partitioned_tables()
    }
    assert upkeep in graph.get(retention).parent_keys
    assert keys_in_group(graph, "marts") <= graph.get(retention).parent_keys
    assert graph.get(export).parent_keys == {retention}
    # the backup comes last: its manifest records the day's archive files
    assert graph.get(dg.AssetKey(["maintenance", "backup"])).parent_keys == {export}


def test_checks_are_present(graph):
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for table in RAW_TABLES:
        assert ((f"raw/{table.name}", "default_partition_empty") in checks) == table.partitioned
        assert (
            (f"raw/{table.name}", "no_rows_past_retention_cutoff") in checks
        ) == table.feeds_marts
    assert ("maintenance/retention", "retention_horizon_exceeds_late_data_window") in checks
    marts = {k.to_user_string() for k in keys_in_group(graph, "marts")}
    # dbt tests become checks on the models they test, and source tests on the raw tables
    assert any(asset in marts for asset, _ in checks)
    assert any(asset.startswith("raw/") and name.startswith("source_") for asset, name in checks)


def test_marts_and_maintenance_have_freshness_policies(graph):
    for group in ("marts", "maintenance"):
        for key in keys_in_group(graph, group):
            assert isinstance(graph.get(key).freshness_policy, dg.FreshnessPolicy), key
    for key in keys_in_group(graph, "staging"):
        assert graph.get(key).freshness_policy is None


def test_jobs_select_what_they_should(defs, graph):
    hourly = defs.resolve_job_def("hourly_marts")
    daily = defs.resolve_job_def("daily_maintenance")
    observe = defs.resolve_job_def("observe_raw")
    hourly_keys = set(hourly.asset_layer.executable_asset_keys)
    assert keys_in_group(graph, "marts") <= hourly_keys
    assert not any(k.path[0] == "maintenance" for k in hourly_keys)
    daily_keys = set(daily.asset_layer.executable_asset_keys)
    assert {k.path[-1] for k in daily_keys if k.path[0] == "maintenance"} == {
        "partition_upkeep", "retention", "archive_export", "backup",
    }  # fmt: skip
    assert not any(k.path[0] in ("marts", "staging") for k in daily_keys)
    observed = set(observe.asset_layer.executable_asset_keys)
    assert {k.path[0] for k in observed} == {"raw"}
    assert {dg.AssetKey(["raw", t.name]) for t in RAW_TABLES} == observed
    for job in (hourly, daily):
        assert job.tags.get("mcp_analytics/writes") == "warehouse"


def _run_requests(definitions: dg.Definitions, name: str, when: datetime):
    schedule = definitions.resolve_schedule_def(name)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    return schedule, list(schedule.evaluate_tick(context).run_requests or [])


def test_schedules_produce_run_requests_at_their_times(defs):
    when = datetime(2026, 3, 5, 2, 30, tzinfo=UTC)
    schedule, requests = _run_requests(defs, "daily_maintenance_schedule", when)
    assert schedule.cron_schedule == "30 2 * * *"
    assert len(requests) == 1 and schedule.job_name == "daily_maintenance"
    schedule, requests = _run_requests(defs, "hourly_marts_schedule", when)
    assert schedule.cron_schedule == "10 * * * *" and schedule.job_name == "hourly_marts"
    assert len(requests) == 1
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    # the next ticks: hourly at :10, daily at 02:30 UTC
    assert ticks(defs, "hourly_marts_schedule", when, 2) == ["03:10", "04:10"]
    assert ticks(defs, "daily_maintenance_schedule", when, 2) == ["02:30", "02:30"]


def ticks(definitions: dg.Definitions, name: str, after: datetime, count: int) -> list[str]:
    schedule = definitions.resolve_schedule_def(name)
    times = cron_string_iterator(
        after.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    return [next(times).astimezone(UTC).strftime("%H:%M") for _ in range(count)]


def test_schedule_times_come_from_configuration(monkeypatch):
    monkeypatch.setenv("MCPA_DAILY_CRON", "15 4 * * *")
    monkeypatch.setenv("MCPA_HOURLY_CRON", "5 * * * *")
    monkeypatch.setenv("MCPA_SCHEDULE_TZ", "Europe/Paris")
    settings.cache_clear()
    try:
        configured = build_definitions()
        daily = configured.resolve_schedule_def("daily_maintenance_schedule")
        hourly = configured.resolve_schedule_def("hourly_marts_schedule")
        assert daily.cron_schedule == "15 4 * * *" and daily.execution_timezone == "Europe/Paris"
        assert hourly.cron_schedule == "5 * * * *"
        when = datetime(2026, 7, 1, 2, 15, tzinfo=UTC)  # 04:15 in Paris (summer time)
        context = dg.build_schedule_context(scheduled_execution_time=when)
        assert len(list(daily.evaluate_tick(context).run_requests or [])) == 1
        assert ticks(configured, "daily_maintenance_schedule", when, 1) == ["02:15"]
    finally:
        settings.cache_clear()


def test_dagster_yaml_limits_writers_and_disables_telemetry():
    config = yaml.safe_load(DAGSTER_YAML)
    assert config["telemetry"]["enabled"] is False
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "MCPA_DAGSTER_PG_URL"}
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "mcp_analytics/writes", "limit": 1} in limits
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}


def test_storage_url_uses_psycopg2_and_the_dagster_schema():
    socket = storage_url("postgresql://postgres@/mcpa?host=%2Ftmp%2Fsock&port=5433")
    assert socket.startswith("postgresql+psycopg2://postgres@/mcpa?")
    assert "host=%2Ftmp%2Fsock" in socket and "port=5433" in socket
    assert "search_path%3Ddagster" in socket
    tcp = storage_url("postgresql://u:p%40ss@db.example:5432/w?sslmode=require")
    assert tcp.startswith("postgresql+psycopg2://u:p%40ss@db.example:5432/w?")
    assert "sslmode=require" in tcp


def test_every_writer_is_in_the_warehouse_pool(graph):
    writers = {
        k for k in graph.get_all_asset_keys() if graph.get(k).group_name in ("marts", "maintenance")
    }
    for key in writers:
        assets_def = graph.get(key).assets_def
        assert assets_def.node_def.pool == "mcpa_warehouse", key


def test_dagster_accepts_the_home_and_applies_its_limits(bootstrapped_db, tmp_path, monkeypatch):
    from mcp_analytics.orchestration.lib.home import prepare_home

    env = prepare_home(bootstrapped_db, tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "run"
        limits = [
            (limit["key"], limit["limit"])
            for limit in config.run_queue_config.tag_concurrency_limits
        ]
        assert ("mcp_analytics/writes", 1) in limits
        assert not instance.telemetry_enabled
        assert instance.get_runs() == []  # the storage answers, from schema dagster
    with psycopg.connect(bootstrapped_db) as conn:
        tables = conn.execute(
            "select count(*) from pg_tables where schemaname = 'dagster' and tablename = 'runs'"
        ).fetchone()[0]
    assert tables == 1


def _project_copy(root: Path) -> Path:
    """bootstrap_sql/ and dbt_project/ (without what dbt generated) in a folder of their own."""
    shutil.copytree(settings().bootstrap_dir, root / "bootstrap_sql")
    shutil.copytree(
        settings().dbt_project_dir,
        root / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    return root


@pytest.mark.slow
def test_importing_the_code_location_runs_nothing_and_dagster_loads_it(tmp_path: Path) -> None:
    project = _project_copy(tmp_path / "project")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DAGSTER_"))}
    env |= {"MCPA_PROJECT_DIR": str(project), "DAGSTER_HOME": str(tmp_path)}
    target = project / "dbt_project" / "target"
    imports = "\n".join(
        f"import mcp_analytics.orchestration.{module}"
        for module in ("definitions", "defs.dbt_assets", "defs.raw_assets", "defs.schedules")
    )
    proc = subprocess.run(
        [sys.executable, "-c", imports], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert not target.exists(), "importing the code location ran dbt"
    # `dagster dev -m` loads it the same way: that builds the definitions, parsing the project.
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "mcp_analytics.orchestration.definitions"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr
    assert (target / "manifest.json").exists()


@pytest.mark.slow
def test_the_dbt_resource_passes_its_environment_without_touching_os_environ(
    bootstrapped_db: str,
) -> None:
    resource = build_dbt_resource(bootstrapped_db)
    before = dict(os.environ)
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(key for key in list(os.environ) if key.startswith("MCPA_PG_"))
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        invocation = resource.cli(["run", "--select", "stg_mcp__users"], raise_on_error=False)
        invocation.wait()
    finally:
        done.set()
        watcher.join()
    assert invocation.is_successful(), invocation.get_error()
    assert not seen - set(before) and dict(os.environ) == before
    # dbt reached the test database through the environment it was handed
    with psycopg.connect(bootstrapped_db) as conn:
        built = conn.execute(
            "select count(*) from information_schema.tables where table_name = 'stg_mcp__users'"
        ).fetchone()
    assert built == (1,)
    assert invocation.target_path.is_relative_to(settings().dbt_target_dir)

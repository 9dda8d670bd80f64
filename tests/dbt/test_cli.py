"""`mcp-analytics build`, `dbt` and `dbt-env`, and the one environment dbt runs with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_analytics.cli import main
from mcp_analytics.config import settings
from mcp_analytics.dbt.env import dbt_env, offline_url
from tests.helpers.cli import dbt_env_outputs


@pytest.fixture
def database_url(
    module_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", module_db)
    # keep this run's target/ and logs out of the project's
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("cli_target")))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path_factory.mktemp("cli_logs")))
    settings.cache_clear()
    yield module_db
    settings.cache_clear()


def test_dbt_env_masks_the_password_unless_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql://analyst:s3cr%40t@db.example:6543/warehouse?sslmode=require"
    )
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    masked, shown = dbt_env_outputs(capsys)
    target = settings().dbt_target_dir
    settings.cache_clear()
    assert "s3cr" not in masked
    assert "export MCPA_PG_PASSWORD='***'" in masked
    assert "export MCPA_PG_HOST=db.example" in masked
    assert "export MCPA_PG_PORT=6543" in masked
    assert "export MCPA_PG_DBNAME=warehouse" in masked
    assert "export MCPA_PG_SSLMODE=require" in masked
    assert f"export DBT_TARGET_PATH={target}" in masked
    assert "export MCPA_PG_PASSWORD=s3cr@t" in shown


def test_dbt_passthrough_and_build_run_dbt_on_the_project_database(
    database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["dbt", "--", "ls", "--select", "marts", "--output", "name"]) == 0
    listed = capfd.readouterr().out
    for mart in ("hourly_tool_usage_summary", "daily_tool_usage_summary", "hourly_request_summary"):
        assert mart in listed
    assert main(["build", "--select", "stg_mcp__users"]) == 0
    assert "Completed successfully" in capfd.readouterr().out
    # dbt's own failures come back as its exit status
    assert main(["build", "--select", "no_such_model_anywhere", "--warn-error"]) != 0


def test_dbt_without_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dbt"]) == 2
    assert "give dbt arguments" in capsys.readouterr().err


def test_parse_gets_the_same_environment_without_starting_a_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`dbt parse` (manifest) renders the profile from dbt_env(offline_url()): SSL mode
    included, and with no DATABASE_URL the embedded server's coordinates, not started."""
    url = "postgresql://analyst:pw@db.example:6543/warehouse?sslmode=verify-full"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path / "state"))
    settings.cache_clear()
    try:
        assert offline_url() == url
        assert dbt_env(offline_url())["MCPA_PG_SSLMODE"] == "verify-full"
        monkeypatch.delenv("DATABASE_URL")
        settings.cache_clear()
        env = dbt_env(offline_url(), base={})
    finally:
        settings.cache_clear()
    assert env["MCPA_PG_HOST"] == str(tmp_path / "state")
    assert env["MCPA_PG_DBNAME"] == "mcp_analytics"
    assert not (tmp_path / "state").exists(), "the embedded server was started"

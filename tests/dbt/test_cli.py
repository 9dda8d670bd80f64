"""`mcp-analytics build`, `mcp-analytics dbt` and `mcp-analytics dbt-env`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_analytics.cli import main
from mcp_analytics.config import settings


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
    monkeypatch.setenv("DATABASE_URL", "postgresql://analyst:s3cr%40t@db.example:6543/warehouse")
    settings.cache_clear()
    try:
        assert main(["dbt-env"]) == 0
        masked = capsys.readouterr().out
        assert main(["dbt-env", "--show-password"]) == 0
        shown = capsys.readouterr().out
    finally:
        settings.cache_clear()
    assert "s3cr" not in masked
    assert "export MCPA_PG_PASSWORD='***'" in masked
    assert "export MCPA_PG_HOST=db.example" in masked
    assert "export MCPA_PG_PORT=6543" in masked
    assert "export MCPA_PG_DBNAME=warehouse" in masked
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

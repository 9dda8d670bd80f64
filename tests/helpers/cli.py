"""The CLI run in the test's process, with its settings read afresh from the environment."""

from __future__ import annotations

import pytest

from mcp_analytics.cli import main
from mcp_analytics.config import settings


def dbt_env_outputs(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """What `mcp-analytics dbt-env` prints (the password masked) and what `mcp-analytics
    dbt-env --show-password` prints, under the environment as it is now (the settings cache
    is cleared before and after). Fails the test when either exits non-zero."""
    settings.cache_clear()
    try:
        assert main(["dbt-env"]) == 0
        masked = capsys.readouterr().out
        assert main(["dbt-env", "--show-password"]) == 0
        return masked, capsys.readouterr().out
    finally:
        settings.cache_clear()

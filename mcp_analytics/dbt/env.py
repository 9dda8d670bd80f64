"""How dbt finds the project's database: environment variables read by dbt_project/profiles.yml.

Both the CLI and the Dagster code location run dbt with `dbt_env(url)` merged into the
environment, so dbt targets the same database as everything else with no hand editing.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp_analytics.config import settings
from mcp_analytics.warehouse.db import database_url, libpq_params


def dbt_env(url: str | None = None, *, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a dbt process targeting `url` (default: the project's database)."""
    params = libpq_params(url or database_url())
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "DBT_PROFILES_DIR": str(settings().dbt_project_dir),
            "DBT_PROJECT_DIR": str(settings().dbt_project_dir),
            "MCPA_PG_HOST": params["host"],
            "MCPA_PG_PORT": params["port"],
            "MCPA_PG_USER": params["user"],
            "MCPA_PG_PASSWORD": params["password"],
            "MCPA_PG_DBNAME": params["dbname"],
            "MCPA_PG_SSLMODE": params.get("sslmode", "prefer"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def dbt_project_dir() -> Path:
    return settings().dbt_project_dir

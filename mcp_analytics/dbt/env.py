"""The one place that says how dbt runs: which executable, with which environment.

dbt_project/profiles.yml reads the database coordinates from MCPA_PG_* variables. Every caller
(the CLI's `build`, `dbt` and `dbt-env`, the manifest parse, the Dagster dbt resource, tests)
takes them from `dbt_env()`, so dbt targets the same database as everything else, SSL mode
included, and writes its target/ and logs/ where `settings()` says (the state folder when the
project is the installed package's copy: nothing is ever written inside site-packages).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from mcp_analytics.config import settings
from mcp_analytics.extras import WAREHOUSE_HINT
from mcp_analytics.warehouse.db import database_url, libpq_params


class DbtNotFoundError(RuntimeError):
    """The dbt executable is neither next to this Python nor on PATH."""


def dbt_executable() -> str:
    """Path of the `dbt` to run: the one installed next to this interpreter, else PATH's.

    Raises:
        DbtNotFoundError: dbt is not installed (a core install without the warehouse extra).
    """
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise DbtNotFoundError(f"dbt is not installed: {WAREHOUSE_HINT}")
    return found


def profile_env(url: str) -> dict[str, str]:
    """The MCPA_PG_* variables profiles.yml reads, for the libpq URL `url`."""
    params = libpq_params(url)
    return {
        "MCPA_PG_HOST": params["host"],
        "MCPA_PG_PORT": params["port"],
        "MCPA_PG_USER": params["user"],
        "MCPA_PG_PASSWORD": params["password"],
        "MCPA_PG_DBNAME": params["dbname"],
        "MCPA_PG_SSLMODE": params.get("sslmode", "prefer"),
    }


def offline_url() -> str:
    """A URL for dbt commands that render the profile but never connect (`dbt parse`).

    DATABASE_URL when set; else the embedded server's coordinates, without starting it.
    """
    cfg = settings()
    if cfg.database_url:
        return cfg.database_url
    host = quote(str(cfg.pgdata_dir.parent), safe="")
    return f"postgresql://postgres@/{quote(cfg.embedded_db_name, safe='')}?host={host}"


def dbt_env(
    url: str | None = None,
    *,
    base: Mapping[str, str] | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
) -> dict[str, str]:
    """Environment of a dbt process that targets `url` (None: the project's database).

    `base` is the environment to extend (default: this process's). target/ and logs/ are
    `target_path`/`log_path` when given, else DBT_TARGET_PATH/DBT_LOG_PATH from `base`, else
    `settings().dbt_target_dir`/`dbt_log_dir`. With `url` None the embedded server may be
    started (see `mcp_analytics.warehouse.db.database_url`).
    """
    cfg = settings()
    env = dict(os.environ if base is None else base)
    env.update(profile_env(url or database_url()))
    env.update(
        {
            "DBT_PROFILES_DIR": str(cfg.dbt_project_dir),
            "DBT_PROJECT_DIR": str(cfg.dbt_project_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_TARGET_PATH": str(target_path or env.get("DBT_TARGET_PATH") or cfg.dbt_target_dir),
            "DBT_LOG_PATH": str(log_path or env.get("DBT_LOG_PATH") or cfg.dbt_log_dir),
        }
    )
    return env

"""DAGSTER_HOME for the project: persistent, telemetry off, storage in the project's database.

Dagster's run, event-log and schedule storage live in schema `dagster` of the project's
database (no second database to create, which a managed DATABASE_URL may not allow). The
storage URL, which may hold a password, is passed in the environment (MCPA_DAGSTER_PG_URL),
never written to dagster.yaml. dagster-postgres under SQLAlchemy 2.1 needs the explicit
`postgresql+psycopg2` scheme.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.warehouse import db

STORAGE_SCHEMA = "dagster"
STORAGE_URL_ENV = "MCPA_DAGSTER_PG_URL"
WRITES_TAG_KEY = "mcp_analytics/writes"

DAGSTER_YAML = f"""\
# Written by mcp-analytics (orchestration/lib/home.py), again on every `mcp-analytics ui`.
telemetry:
  enabled: false
# no "join the community" prompt in the UI (a closed network cannot follow it anyway)
nux:
  enabled: false

# Runs, event logs and schedules in schema `{STORAGE_SCHEMA}` of the project's database; the URL
# comes from the environment so that no password is stored here.
storage:
  postgres:
    postgres_url:
      env: {STORAGE_URL_ENV}

concurrency:
  runs:
    max_concurrent_runs: 4
    # Runs that write the warehouse (hourly build, daily maintenance) never overlap.
    tag_concurrency_limits:
      - key: "{WRITES_TAG_KEY}"
        limit: 1
  pools:
    # Pool `mcpa_warehouse` (every asset that writes): one run at a time, held for the run.
    default_limit: 1
    granularity: run

run_monitoring:
  enabled: true

retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days: 7
"""


def storage_url(url: str | None = None) -> str:
    """SQLAlchemy URL of Dagster's storage: psycopg2, search_path = dagster."""
    params = db.libpq_params(url or db.database_url())
    user = quote(params["user"], safe="")
    auth = f"{user}:{quote(params['password'], safe='')}" if params["password"] else user
    query: dict[str, str] = {"options": f"-csearch_path={STORAGE_SCHEMA}"}
    if params["host"].startswith("/"):
        # A unix socket: libpq takes the directory as `host`.
        location = ""
        query["host"] = params["host"]
        query["port"] = params["port"]
    else:
        location = f"{params['host']}:{params['port']}"
    if "sslmode" in params:
        query["sslmode"] = params["sslmode"]
    return f"postgresql+psycopg2://{auth}@{location}/{quote(params['dbname'], safe='')}?" + (
        urlencode(query, quote_via=quote)
    )


def ensure_storage_schema(url: str | None = None) -> None:
    with db.connection(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(STORAGE_SCHEMA))
        )


def prepare_home(url: str | None = None, home: Path | None = None) -> dict[str, str]:
    """Create DAGSTER_HOME and the storage schema; return the environment Dagster needs."""
    url = url or db.database_url()
    home = home or settings().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != DAGSTER_YAML:
        target.write_text(DAGSTER_YAML)
    ensure_storage_schema(url)
    return {"DAGSTER_HOME": str(home), STORAGE_URL_ENV: storage_url(url)}


def activate_home(url: str | None = None, home: Path | None = None) -> dict[str, str]:
    """prepare_home, and export its variables into this process (for in-process runs)."""
    env = prepare_home(url, home)
    os.environ.update(env)
    return env

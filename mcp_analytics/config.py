"""The one place where settings come from: environment variables with sane defaults.

Everything that varies between machines (where the state lives, which database to use, which
role URL a command connects with) is read here and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _project_root() -> Path:
    env = os.environ.get("MCPA_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    # An editable install (the Makefile's) lives in the checkout: use it.
    candidate = PACKAGE_DIR.parent
    if (candidate / "bootstrap_sql").is_dir():
        return candidate
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    state_dir: Path
    #: DATABASE_URL when set; None means "use the embedded server".
    database_url: str | None
    #: database created on the embedded server.
    embedded_db_name: str
    #: optional least-privilege URLs (issue: security); None falls back to database_url.
    ingest_url: str | None
    analyst_url: str | None
    #: the collector's spool folder (MCPA_SPOOL_DIR); None means <state_dir>/spool.
    spool_dir_override: Path | None = None
    #: orchestration (issue 5): where archived partitions are exported as Parquet files, and
    #: the cron strings (in schedule_timezone) of the hourly build and the daily maintenance.
    archive_dir: Path | None = None
    hourly_build_cron: str = "10 * * * *"
    daily_maintenance_cron: str = "30 2 * * *"
    schedule_timezone: str = "UTC"

    @property
    def bootstrap_dir(self) -> Path:
        return self.project_dir / "bootstrap_sql"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @property
    def pgdata_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def spool_dir(self) -> Path:
        return self.spool_dir_override or self.state_dir / "spool"

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None


def load_settings() -> Settings:
    root = _project_root()
    state = Path(os.environ.get("MCPA_STATE_DIR", root / ".state")).resolve()
    return Settings(
        project_dir=root,
        state_dir=state,
        database_url=os.environ.get("DATABASE_URL") or None,
        embedded_db_name=os.environ.get("MCPA_DB_NAME", "mcp_analytics"),
        ingest_url=os.environ.get("MCPA_INGEST_URL") or None,
        analyst_url=os.environ.get("MCPA_ANALYST_URL") or None,
        archive_dir=Path(os.environ.get("MCPA_ARCHIVE_DIR") or state / "archive").resolve(),
        hourly_build_cron=os.environ.get("MCPA_HOURLY_CRON") or "10 * * * *",
        daily_maintenance_cron=os.environ.get("MCPA_DAILY_CRON") or "30 2 * * *",
        schedule_timezone=os.environ.get("MCPA_SCHEDULE_TZ") or "UTC",
        spool_dir_override=Path(os.environ["MCPA_SPOOL_DIR"]).resolve()
        if os.environ.get("MCPA_SPOOL_DIR")
        else None,
    )


@cache
def settings() -> Settings:
    """Process-wide settings (tests that change the environment call `settings.cache_clear()`)."""
    return load_settings()

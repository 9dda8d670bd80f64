"""The one place where settings come from: environment variables with sane defaults.

Everything that varies between machines (where the state lives, which database to use, which
role URL a command connects with) is read here and nowhere else.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where a built wheel carries bootstrap_sql/ and dbt_project/ (copied there by setup.py).
BUNDLED_PROJECT_DIR = PACKAGE_DIR / "_project"
_PROJECT_MARKERS = ("bootstrap_sql", "dbt_project")


def _is_project(path: Path) -> bool:
    return all((path / name).is_dir() for name in _PROJECT_MARKERS)


def _project_root() -> tuple[Path, bool]:
    """(folder holding bootstrap_sql/ and dbt_project/, whether it is the installed package's).

    MCPA_PROJECT_DIR wins; then the checkout an editable install lives in; then the copy a
    wheel ships. Never the current directory: a command behaves the same wherever it runs.
    """
    env = os.environ.get("MCPA_PROJECT_DIR")
    if env:
        return Path(env).resolve(), False
    checkout = PACKAGE_DIR.parent
    if _is_project(checkout):
        return checkout, False
    return BUNDLED_PROJECT_DIR, True


def _user_state_dir() -> Path:
    """Per-user state folder of an installed package (XDG base directory spec)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "mcp-analytics"


@dataclass(frozen=True)
class Settings:
    #: the folder with bootstrap_sql/ and dbt_project/ (a checkout, or the installed package's
    #: copy when `packaged`, which is never written to).
    project_dir: Path
    state_dir: Path
    #: DATABASE_URL when set; None means "use the embedded server".
    database_url: str | None
    #: database created on the embedded server.
    embedded_db_name: str
    #: optional least-privilege URLs; None falls back to database_url.
    ingest_url: str | None
    analyst_url: str | None
    #: the collector's spool folder (MCPA_SPOOL_DIR); None means <state_dir>/spool.
    spool_dir_override: Path | None = None
    #: orchestration: where archived partitions are exported as Parquet files, and
    #: the cron strings (in schedule_timezone) of the hourly build and the daily maintenance.
    archive_dir: Path | None = None
    hourly_build_cron: str = "10 * * * *"
    daily_maintenance_cron: str = "30 2 * * *"
    schedule_timezone: str = "UTC"
    #: the dirty-ledger sensor looks at most this often (seconds; MCPA_MARTS_SENSOR_INTERVAL)
    marts_sensor_interval_s: int = 60
    #: backups: where `mcp-analytics backup` and the daily asset write them (MCPA_BACKUP_DIR,
    #: default <state_dir>/backups), and how many the daily asset keeps (MCPA_BACKUP_KEEP).
    backup_dir_override: Path | None = None
    backup_keep: int = 7
    packaged: bool = False

    @property
    def bootstrap_dir(self) -> Path:
        return self.project_dir / "bootstrap_sql"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target/ (manifest, run results): the project's own in a checkout, else in
        the state folder, so that nothing is written inside an installed package."""
        return self._dbt_output_dir / "target"

    @property
    def dbt_log_dir(self) -> Path:
        """dbt's logs/, placed like `dbt_target_dir`."""
        return self._dbt_output_dir / "logs"

    @property
    def _dbt_output_dir(self) -> Path:
        return self.state_dir / "dbt" if self.packaged else self.dbt_project_dir

    @property
    def pgdata_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def spool_dir(self) -> Path:
        return self.spool_dir_override or self.state_dir / "spool"

    @property
    def backup_dir(self) -> Path:
        return self.backup_dir_override or self.state_dir / "backups"

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None


def _positive_int(name: str, default: int) -> int:
    """A positive integer from the environment; anything else keeps `default` with a warning
    naming the variable (settings never raise)."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        logging.getLogger(__name__).warning(
            "%s must be a positive whole number, got %r: using %d", name, text, default
        )
        return default
    return value


def _folder(name: str) -> Path | None:
    """The absolute folder the environment variable `name` names, or None when it is unset
    or empty."""
    text = os.environ.get(name)
    return Path(text).resolve() if text else None


def load_settings() -> Settings:
    """Settings from the environment (MCPA_*, DATABASE_URL, XDG_STATE_HOME); raises nothing."""
    root, packaged = _project_root()
    default_state = _user_state_dir() if packaged else root / ".state"
    state = Path(os.environ.get("MCPA_STATE_DIR") or default_state).resolve()
    return Settings(
        project_dir=root,
        packaged=packaged,
        state_dir=state,
        database_url=os.environ.get("DATABASE_URL") or None,
        embedded_db_name=os.environ.get("MCPA_DB_NAME", "mcp_analytics"),
        ingest_url=os.environ.get("MCPA_INGEST_URL") or None,
        analyst_url=os.environ.get("MCPA_ANALYST_URL") or None,
        archive_dir=Path(os.environ.get("MCPA_ARCHIVE_DIR") or state / "archive").resolve(),
        hourly_build_cron=os.environ.get("MCPA_HOURLY_CRON") or "10 * * * *",
        daily_maintenance_cron=os.environ.get("MCPA_DAILY_CRON") or "30 2 * * *",
        schedule_timezone=os.environ.get("MCPA_SCHEDULE_TZ") or "UTC",
        marts_sensor_interval_s=_positive_int("MCPA_MARTS_SENSOR_INTERVAL", 60),
        backup_dir_override=_folder("MCPA_BACKUP_DIR"),
        backup_keep=_positive_int("MCPA_BACKUP_KEEP", 7),
        spool_dir_override=_folder("MCPA_SPOOL_DIR"),
    )


@cache
def settings() -> Settings:
    """Process-wide settings (tests that change the environment call `settings.cache_clear()`)."""
    return load_settings()

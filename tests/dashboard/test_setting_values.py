"""Settings saved in the dashboard (admin.update_config, as its Configuration page saves them)
with values JSON does not have, or that PostgreSQL cannot use, on a real database: refused
with a clear error and nothing saved, where they used to reach the database (an error page) or
be saved and then fail every retention run."""

from __future__ import annotations

import psycopg
import pytest

from mcp_analytics import auth
from mcp_analytics.dashboard import admin

SETTING = "select config_value::text from system_configuration where config_key = %s"


@pytest.fixture(scope="module")
def root(module_db: str) -> auth.User:
    """A SUPER_ADMIN of the module's bootstrapped database (who saves the settings)."""
    with psycopg.connect(module_db, autocommit=True) as conn:
        return auth.create_user(conn, "root", "a long passphrase 1", role="SUPER_ADMIN")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        # NaN and Infinity are not JSON (the database refused them), and 1e999 parses to
        # Infinity
        ("maintenance.lock_timeout_seconds", "NaN", "NaN is not a JSON value"),
        ("dashboard.refresh_interval_ms", "-Infinity", "-Infinity is not a JSON value"),
        ("analytics.event_time_window", '{"max_age_days": 1e999}', "1e999 is beyond the range"),
        # a wait past lock_timeout's range: the schema (a number above 0) let it through
        ("maintenance.lock_timeout_seconds", "1e300", "at most 2147483 seconds"),
        ("maintenance.warehouse_lock_timeout_seconds", "3000000", "at most 2147483 seconds"),
    ],
)
def test_a_value_the_database_cannot_take_is_refused(
    module_db: str, root: auth.User, key: str, value: str, reason: str
) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        before = conn.execute(SETTING, (key,)).fetchone()
        with pytest.raises(admin.AdminError, match=reason):
            admin.update_config(conn, key, value, root, "SUPER_ADMIN")
        assert conn.execute(SETTING, (key,)).fetchone() == before


def test_the_longest_lock_timeout_is_one_retention_can_use(module_db: str, root: auth.User) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        admin.update_config(
            conn, "maintenance.lock_timeout_seconds", str(admin.MAX_LOCK_TIMEOUT_S), root,
            "SUPER_ADMIN",
        )  # fmt: skip
        # retention's dry run sets the saved wait as its lock_timeout
        assert conn.execute("select count(*) from apply_retention(true)").fetchone()[0] > 0

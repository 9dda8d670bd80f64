"""Authentication settings read from `system_configuration` (the seed's auth.* rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

KEYS = ("auth.max_login_attempts", "auth.lockout_duration_minutes", "auth.session_timeout_hours")
# The seed's default rows; used when a row is missing.
DEFAULTS = {
    "auth.max_login_attempts": 5,
    "auth.lockout_duration_minutes": 15,
    "auth.session_timeout_hours": 24,
}


class AuthConfigError(ValueError):
    """An auth.* setting in system_configuration that cannot be used."""


@dataclass(frozen=True)
class AuthPolicy:
    max_login_attempts: int = 5
    lockout_duration: timedelta = timedelta(minutes=15)
    session_timeout: timedelta = timedelta(hours=24)


def _positive(key: str, value: object) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not number > 0 or number == float("inf"):
        raise AuthConfigError(
            f"system_configuration {key} must be a positive number, got {value!r}"
        )
    return number


def load_policy(conn: psycopg.Connection) -> AuthPolicy:
    """The login policy from `system_configuration` (auth.max_login_attempts, a count;
    auth.lockout_duration_minutes; auth.session_timeout_hours), DEFAULTS for missing keys.

    Raises:
        AuthConfigError: a value that is not a positive number (attempts: a whole one).
    """
    rows = conn.execute(
        "select config_key, config_value from system_configuration where config_key = any(%s)",
        (list(KEYS),),
    ).fetchall()
    values = dict(DEFAULTS) | {key: value for key, value in rows}

    def get(key: str) -> float:
        return _positive(key, values[key])

    attempts = get("auth.max_login_attempts")
    if attempts != int(attempts):
        raise AuthConfigError("system_configuration auth.max_login_attempts must be a whole number")
    return AuthPolicy(
        max_login_attempts=int(attempts),
        lockout_duration=timedelta(minutes=get("auth.lockout_duration_minutes")),
        session_timeout=timedelta(hours=get("auth.session_timeout_hours")),
    )

"""Administrative writes of the dashboard: users, retention policies, system configuration.

Every write names the signed-in user in the row it changes (`created_by`, `updated_by`). Checks
run inside the transaction of the write, on the values as the database will hold them, and a
refused change rolls back whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import jsonschema
import psycopg
from psycopg.rows import dict_row

from mcp_analytics import auth
from mcp_analytics.ingest.events import TimeWindow
from mcp_analytics.ingest.redaction import RedactionRules
from mcp_analytics.warehouse.retention import (
    RetentionResult,
    late_data_window_hours,
    retention_horizon_problems,
)


class Actor(Protocol):
    """Who makes a change: the signed-in user."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


class AdminError(ValueError):
    """A change refused, with what to do instead; nothing was written."""


class _Rollback(Exception):
    """Raised inside a transaction to undo a preview."""


# ------------------------------------------------------------------------------- users


def change_role(conn: psycopg.Connection, username: str, role: str, by: Actor) -> None:
    """Give `username` the role `role`; the last active SUPER_ADMIN keeps theirs."""
    if role not in auth.ROLES:
        raise AdminError(f"role must be one of {', '.join(auth.ROLES)}")
    with conn.transaction():
        user = auth.get_user(conn, username)
        if user is None:
            raise AdminError(f"no user named {username!r}")
        if user.role == "SUPER_ADMIN" and role != "SUPER_ADMIN":
            _keep_a_super_admin(conn, user.id)
        conn.execute(
            "update users set role = %s, updated_at = now(), updated_by = %s where id = %s",
            (role, by.id, user.id),
        )


def _keep_a_super_admin(conn: psycopg.Connection, leaving: int) -> None:
    row = conn.execute(
        "select count(*) from users where role = 'SUPER_ADMIN' and is_active and id <> %s",
        (leaving,),
    ).fetchone()
    if not row or row[0] == 0:
        raise AdminError("this is the last active SUPER_ADMIN: promote another user first")


def set_active(conn: psycopg.Connection, username: str, active: bool, by: Actor) -> None:
    """Enable or disable a user (disabling ends their sessions); not oneself, not the last
    SUPER_ADMIN."""
    if not active and username == by.username:
        raise AdminError("you cannot disable yourself")
    with conn.transaction():
        user = auth.get_user(conn, username)
        if user is None:
            raise AdminError(f"no user named {username!r}")
        if not active and user.role == "SUPER_ADMIN":
            _keep_a_super_admin(conn, user.id)
        auth.set_active(conn, username, active)
        conn.execute("update users set updated_by = %s where id = %s", (by.id, user.id))


def unlock(conn: psycopg.Connection, username: str, by: Actor) -> None:
    with conn.transaction():
        try:
            user = auth.unlock_user(conn, username)
        except auth.UserError as err:
            raise AdminError(str(err)) from None
        conn.execute(
            "update users set updated_at = now(), updated_by = %s where id = %s", (by.id, user.id)
        )


def create_user(
    conn: psycopg.Connection, username: str, password: str, role: str, email: str | None,
    by: Actor,
) -> auth.User:  # fmt: skip
    try:
        return auth.create_user(
            conn, username, password, email=email or None, role=role, created_by=by.id
        )
    except (auth.UserError, auth.PasswordPolicyError) as err:
        raise AdminError(str(err)) from None


def set_password(conn: psycopg.Connection, username: str, password: str, by: Actor) -> None:
    try:
        auth.set_password(conn, username, password, updated_by=by.id)
    except (auth.UserError, auth.PasswordPolicyError) as err:
        raise AdminError(str(err)) from None


# ------------------------------------------------------------------ retention policies


@dataclass(frozen=True)
class PolicyChange:
    """New values of one retention policy, as entered in the form."""

    table_name: str
    retention_days: int
    cleanup_enabled: bool
    archive_before_delete: bool
    cleanup_batch_size: int
    cleanup_interval_hours: int

    @classmethod
    def from_form(cls, table_name: str, form: dict[str, str]) -> PolicyChange:
        """Parse and bound the form's fields.

        Raises:
            AdminError: a field missing, not a whole number, or out of range.
        """

        def whole(name: str, low: int, high: int) -> int:
            text = (form.get(name) or "").strip()
            try:
                value = int(text)
            except ValueError:
                raise AdminError(f"{name} must be a whole number, got {text!r}") from None
            if not low <= value <= high:
                raise AdminError(f"{name} must be between {low} and {high}, got {value}")
            return value

        return cls(
            table_name=table_name,
            retention_days=whole("retention_days", 1, 36500),
            cleanup_enabled=form.get("cleanup_enabled") == "on",
            archive_before_delete=form.get("archive_before_delete") == "on",
            cleanup_batch_size=whole("cleanup_batch_size", 1, 1_000_000),
            cleanup_interval_hours=whole("cleanup_interval_hours", 1, 8760),
        )


def _apply_policy(conn: psycopg.Connection, change: PolicyChange, by: Actor) -> None:
    row = conn.execute(
        """
        update data_retention_policies
        set retention_days = %s, cleanup_enabled = %s, archive_before_delete = %s,
            cleanup_batch_size = %s, cleanup_interval_hours = %s,
            updated_at = now(), updated_by = %s
        where table_name = %s
        returning table_name
        """,
        (
            change.retention_days,
            change.cleanup_enabled,
            change.archive_before_delete,
            change.cleanup_batch_size,
            change.cleanup_interval_hours,
            by.id,
            change.table_name,
        ),
    ).fetchone()
    if row is None:
        raise AdminError(f"no retention policy for {change.table_name!r}")
    problems = retention_horizon_problems(conn, late_data_window_hours(), table=change.table_name)
    if problems:
        raise AdminError(
            "; ".join(problems) + ": keep raw rows longer than the marts' late-data window"
        )


def update_policy(conn: psycopg.Connection, change: PolicyChange, by: Actor) -> None:
    """Save a retention policy (updated_by = `by`).

    Raises:
        AdminError: no such policy, or a retention the marts' late-data window forbids.
    """
    with conn.transaction():
        _apply_policy(conn, change, by)


def preview_policy(
    conn: psycopg.Connection, change: PolicyChange, by: Actor
) -> list[RetentionResult]:
    """What retention would remove now with `change` applied (apply_retention's dry run, on
    the changed policy inside a transaction that is rolled back: nothing is saved).

    Raises:
        AdminError: as update_policy, or the database refused the dry run.
    """
    results: list[RetentionResult] = []
    try:
        with conn.transaction():
            _apply_policy(conn, change, by)
            rows = conn.execute(
                "select table_name, action, partitions_detached, rows_archived, rows_deleted,"
                " cutoff, duration_ms, dry_run, detail from apply_retention(true, %s)",
                (change.table_name,),
            ).fetchall()
            results = [RetentionResult(*r) for r in rows]
            raise _Rollback
    except _Rollback:
        return results
    except psycopg.Error as err:
        raise AdminError(f"the dry run failed: {err.diag.message_primary or err}") from None


# -------------------------------------------------------------------- configuration

#: Shown in place of a sensitive value: it is never sent to a browser.
MASK = "(hidden)"


def config_rows(conn: psycopg.Connection, role: str) -> list[dict[str, Any]]:
    """The settings `role` may see: non-sensitive ones for ADMIN, all for SUPER_ADMIN; the
    value of a sensitive one (is_sensitive true or null) is never returned."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        """
        select c.config_key, c.config_value, c.description, c.config_type,
               coalesce(c.is_sensitive, true) as is_sensitive, c.validation_schema,
               c.updated_at, u.username as updated_by
        from system_configuration as c left join users as u on u.id = c.updated_by
        order by c.config_type, c.config_key
        """
    ).fetchall()
    out = []
    for r in rows:
        if r["is_sensitive"] and role != "SUPER_ADMIN":
            continue
        r["display"] = MASK if r["is_sensitive"] else json.dumps(r["config_value"])
        del r["config_value"]
        out.append(r)
    return out


#: The longest wait PostgreSQL's lock_timeout takes, in seconds (INT_MAX milliseconds).
MAX_LOCK_TIMEOUT_S = 2_147_483


def lock_timeout_seconds(value: Any) -> float:
    """A maintenance lock timeout setting as public.maintenance_seconds uses it: seconds, a
    number above 0 and at most MAX_LOCK_TIMEOUT_S (it becomes the session's lock_timeout).

    Raises:
        ValueError: not such a number (a longer wait would make every retention run fail).
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"a lock timeout must be a number of seconds above 0, got {value!r}")
    if value > MAX_LOCK_TIMEOUT_S:
        raise ValueError(
            f"a lock timeout must be at most {MAX_LOCK_TIMEOUT_S} seconds (about 24 days,"
            f" PostgreSQL's longest lock_timeout), got {value}"
        )
    return float(value)


#: Settings whose reader refuses more than a JSON Schema can say, by the reader's own parser
#: (a bad regular expression, an unknown detector, a wait PostgreSQL cannot take): a value it
#: would warn about and ignore at ingest, or that maintenance would fail on, is refused when
#: saved instead.
SETTING_READERS: dict[str, Callable[[Any], object]] = {
    "analytics.redaction": RedactionRules.from_config,
    "analytics.event_time_window": TimeWindow.from_config,
    "maintenance.lock_timeout_seconds": lock_timeout_seconds,
    "maintenance.warehouse_lock_timeout_seconds": lock_timeout_seconds,
}


def _check_known(conn: psycopg.Connection, key: str, value: Any) -> None:
    # Settings the code reads get its own checks too (validation_schema may be unset).
    if key.startswith("auth."):
        try:
            auth.load_policy(conn)
        except auth.AuthConfigError as err:
            raise AdminError(str(err)) from None
    reader = SETTING_READERS.get(key)
    if reader is not None:
        try:
            reader(value)
        except ValueError as err:
            raise AdminError(str(err)) from None


def _finite_number(text: str) -> float:
    # JSON has no NaN or Infinity, and the database refuses them: 1e999 would be Infinity
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is beyond the range of a number")
    return number


def _not_json(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value has a NUL character in a string or key (jsonb refuses
    the \\u0000 escape)."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def update_config(conn: psycopg.Connection, key: str, text: str, by: Actor, role: str) -> None:
    """Set `key` to the JSON value `text`, validated against its validation_schema.

    Raises:
        AdminError: unknown key, a sensitive key and `role` is not SUPER_ADMIN, invalid JSON,
            or a value the schema (or the code that reads the key) refuses.
    """
    try:
        value = json.loads(text, parse_float=_finite_number, parse_constant=_not_json)
    except ValueError as err:
        raise AdminError(
            f'{key}: the value must be JSON (e.g. 10000, true, "text"): {err}'
        ) from None
    if _holds_nul(value):
        raise AdminError(
            f"{key}: the value holds a NUL character (\\u0000), which the database cannot"
            " store: remove it"
        )
    with conn.transaction():
        row = conn.execute(
            "select coalesce(is_sensitive, true), validation_schema from system_configuration"
            " where config_key = %s for update",
            (key,),
        ).fetchone()
        if row is None:
            raise AdminError(f"no setting named {key!r}")
        sensitive, schema = row
        if sensitive and role != "SUPER_ADMIN":
            raise AdminError(f"{key} is a sensitive setting: only a SUPER_ADMIN may change it")
        if schema is not None:
            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError as err:
                raise AdminError(f"{key}: {err.message}") from None
            except jsonschema.SchemaError as err:
                raise AdminError(
                    f"{key}: its validation_schema is not valid: {err.message}"
                ) from None
        conn.execute(
            "update system_configuration set config_value = %s::jsonb, updated_at = now(),"
            " updated_by = %s where config_key = %s",
            (json.dumps(value), by.id, key),
        )
        _check_known(conn, key, value)


#: the auto-refresh setting's row (`refresh_interval_of` reads it)
REFRESH_QUERY = (
    "select config_value from system_configuration"
    " where config_key = 'dashboard.refresh_interval_ms'"
)


def refresh_interval_of(row: Sequence[Any] | None, default: int = 10_000) -> int:
    """The refresh interval in ms of REFRESH_QUERY's row (at least 1000), or `default` when
    unset or unusable."""
    value = row[0] if row else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1000:
        return int(value)
    return default

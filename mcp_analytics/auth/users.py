"""Dashboard users: create, list, enable/disable, set a password, unlock, authenticate.

`authenticate` never tells why it failed: an unknown user, a disabled or locked account and a
wrong password raise the same `AuthenticationError` after the same bcrypt work. Failed attempts
are counted with one atomic UPDATE (no lost increments under concurrent guesses, no lock held
while bcrypt runs) and committed even though the call then raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import pq
from psycopg.rows import class_row

from mcp_analytics.auth import passwords
from mcp_analytics.auth.policy import AuthPolicy, load_policy

ROLES = ("READ_ONLY", "ADMIN", "SUPER_ADMIN")
GENERIC_FAILURE = "invalid username or password"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")

_COLUMNS = """
    id, username, email, role::text as role, coalesce(is_active, false) as is_active,
    created_at, last_login, coalesce(login_attempts, 0) as login_attempts, locked_until,
    coalesce(locked_until > now(), false) as locked, first_name, last_name
"""


class AuthenticationError(Exception):
    """Login refused. Same message for every cause, so it reveals nothing about the account."""

    def __init__(self) -> None:
        super().__init__(GENERIC_FAILURE)


class UserError(ValueError):
    """An administrative operation that cannot be done (unknown user, duplicate name...)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime
    last_login: datetime | None
    login_attempts: int
    locked_until: datetime | None
    locked: bool
    first_name: str | None
    last_name: str | None


def _select(conn: psycopg.Connection, where: str, params: tuple) -> User | None:
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(f"select {_COLUMNS} from users where {where}", params).fetchone()


def get_user(conn: psycopg.Connection, username: str) -> User | None:
    """The user named `username` (exact match), or None."""
    return _select(conn, "username = %s", (username,))


def _require(conn: psycopg.Connection, username: str) -> User:
    user = get_user(conn, username)
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user


def list_users(conn: psycopg.Connection) -> list[User]:
    """Every user, ordered by username."""
    cur = conn.cursor(row_factory=class_row(User))
    return cur.execute(f"select {_COLUMNS} from users order by username").fetchall()


def create_user(
    conn: psycopg.Connection,
    username: str,
    password: str,
    *,
    email: str | None = None,
    role: str = "READ_ONLY",
    first_name: str | None = None,
    last_name: str | None = None,
    created_by: int | None = None,
) -> User:
    """Create a user; the password is stored only as a bcrypt hash (cost >= 12)."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise UserError(
            "a username is 1-255 characters: letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    password_hash = passwords.hash_password(password)
    try:
        with conn.transaction():
            conn.execute(
                """
                insert into users (username, password_hash, email, role, first_name, last_name,
                                   created_by, updated_by)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (username, password_hash, email, role, first_name, last_name)
                + (created_by, created_by),
            )
    except psycopg.errors.UniqueViolation:
        raise UserError("a user with that username or email already exists") from None
    return _require(conn, username)


def set_active(conn: psycopg.Connection, username: str, active: bool) -> User:
    """Enable or disable a user; disabling also ends all their sessions."""
    from mcp_analytics.auth.sessions import revoke_all_sessions

    with conn.transaction():
        user = _require(conn, username)
        conn.execute(
            "update users set is_active = %s, updated_at = now() where id = %s", (active, user.id)
        )
        if not active:
            revoke_all_sessions(conn, user.id)
    return _require(conn, username)


def set_password(
    conn: psycopg.Connection, username: str, password: str, *, updated_by: int | None = None
) -> None:
    """Replace the password, clear any lockout and end all sessions (they used the old one)."""
    from mcp_analytics.auth.sessions import revoke_all_sessions

    password_hash = passwords.hash_password(password)
    with conn.transaction():
        user = _require(conn, username)
        conn.execute(
            """
            update users set password_hash = %s, login_attempts = 0, locked_until = null,
                             updated_at = now(), updated_by = %s
            where id = %s
            """,
            (password_hash, updated_by, user.id),
        )
        revoke_all_sessions(conn, user.id)


def unlock_user(conn: psycopg.Connection, username: str) -> User:
    """Clear a lockout: failed attempts back to 0, `locked_until` null; returns the user.

    Raises:
        UserError: no user has that name.
    """
    with conn.transaction():
        user = _require(conn, username)
        conn.execute(
            "update users set login_attempts = 0, locked_until = null where id = %s", (user.id,)
        )
    return _require(conn, username)


def _record_failure(conn: psycopg.Connection, user_id: int, policy: AuthPolicy) -> None:
    # Computed from the row being updated, so concurrent failures each add one (READ COMMITTED
    # re-reads the newest row version). A lock that has run out starts a fresh count; a live
    # lock is neither counted nor extended.
    conn.execute(
        """
        update users set
            login_attempts = case when locked_until <= now() then 1
                                  else coalesce(login_attempts, 0) + 1 end,
            locked_until = case
                when (case when locked_until <= now() then 1
                           else coalesce(login_attempts, 0) + 1 end) >= %(max)s
                then now() + %(lockout)s
            end
        where id = %(id)s and (locked_until is null or locked_until <= now())
        """,
        {"id": user_id, "max": policy.max_login_attempts, "lockout": policy.lockout_duration},
    )


def authenticate(conn: psycopg.Connection, username: str, password: str) -> User:
    """The user whose password this is, or `AuthenticationError` (whatever the reason).

    Needs a connection outside any transaction: a failed attempt is committed before the error
    is raised, so a caller's rollback cannot erase it.
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("authenticate() needs a connection that is not inside a transaction")
    with conn.transaction():
        policy = load_policy(conn)
        row = None
        # A name PostgreSQL cannot even compare (NUL) is simply unknown, not a different error.
        if isinstance(username, str) and 0 < len(username) <= 255 and "\x00" not in username:
            row = conn.execute(
                """
                select id, password_hash, coalesce(is_active, false),
                       coalesce(locked_until > now(), false)
                from users where username = %s
                """,
                (username,),
            ).fetchone()
    if row is None:
        passwords.dummy_verify(password)
        raise AuthenticationError()
    user_id, password_hash, is_active, locked = row
    # Always check, so a locked or disabled account costs the same as any other.
    matches = passwords.verify_password(password, password_hash)
    if not is_active or locked:
        raise AuthenticationError()
    if not matches:
        with conn.transaction():
            _record_failure(conn, user_id, policy)
        raise AuthenticationError()
    with conn.transaction():
        # Re-checked atomically: a concurrent lock or disable wins over this success.
        ok = conn.execute(
            """
            update users set login_attempts = 0, locked_until = null, last_login = now()
            where id = %s and is_active and (locked_until is null or locked_until <= now())
            returning id
            """,
            (user_id,),
        ).fetchone()
        if ok and passwords.needs_rehash(password_hash):
            conn.execute(
                "update users set password_hash = %s where id = %s and password_hash = %s",
                (passwords.hash_password(password, enforce_policy=False), user_id, password_hash),
            )
    if not ok:
        raise AuthenticationError()
    with conn.transaction():
        user = _select(conn, "id = %s", (user_id,))
    if user is None:  # deleted in between
        raise AuthenticationError()
    return user

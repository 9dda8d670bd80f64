"""Login sessions: random bearer tokens of 256 bits; the database keeps only their SHA-256.

A leaked `sessions` table therefore hands out no live session (the column is still named
`token`, as in the seed). A SHA-256 without salt is enough here: the input is 256 random bits,
so there is nothing to guess. `sessions.id` is a separate random id that may appear in
telemetry (`session_id` columns) without granting anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from mcp_analytics.auth.policy import AuthPolicy, load_policy
from mcp_analytics.auth.tokens import hash_secret, new_secret, plausible_secret
from mcp_analytics.warehouse import db


@dataclass(frozen=True)
class NewSession:
    id: str
    user_id: int
    expires_at: datetime
    #: the bearer token: give it to the client once; it is stored nowhere
    token: str = field(repr=False)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user_id: int
    username: str
    role: str
    expires_at: datetime


def create_session(
    conn: psycopg.Connection,
    user_id: int,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
    login_method: str = "password",
    policy: AuthPolicy | None = None,
) -> NewSession:
    """Start a session for `user_id`, expiring after auth.session_timeout_hours."""
    policy = policy or load_policy(conn)
    token = new_secret()
    session_id = str(uuid.uuid4())
    with conn.transaction():
        (expires_at,) = db.fetch_one(
            conn,
            """
            insert into sessions (id, user_id, token, expires_at, ip_address, user_agent,
                                  login_method)
            values (%s, %s, %s, now() + %s, %s, %s, %s)
            returning expires_at
            """,
            (
                session_id,
                user_id,
                hash_secret(token),
                policy.session_timeout,
                ip_address,
                user_agent,
                login_method,
            ),
        )
    return NewSession(id=session_id, user_id=user_id, expires_at=expires_at, token=token)


#: last_accessed is written at most this often per session: a page view reads the session
#: without writing (and without a commit to wait for) while its last write is this recent
TOUCH_INTERVAL = "1 minute"


def validate_session(conn: psycopg.Connection, token: str) -> SessionInfo | None:
    """The live session this token opens, or None; touches last_accessed when its last
    touch is older than TOUCH_INTERVAL. One statement.

    Live means: active, not expired, and its user active and not locked.
    """
    if not plausible_secret(token):
        return None
    row = conn.execute(
        f"""
        with live as (
            select s.id, s.user_id, u.username, u.role::text as role, s.expires_at,
                   s.last_accessed
            from sessions as s
            join users as u on u.id = s.user_id
            where s.token = %s
              and s.is_active is true
              and s.expires_at > now()
              and u.is_active is true
              and (u.locked_until is null or u.locked_until <= now())
        ),
        touched as (
            update sessions as s set last_accessed = now()
            from live
            where s.id = live.id
              and (live.last_accessed is null
                   or live.last_accessed < now() - interval '{TOUCH_INTERVAL}')
        )
        select id, user_id, username, role, expires_at from live
        """,
        (hash_secret(token),),
    ).fetchone()
    return SessionInfo(*row) if row else None


def revoke_session(conn: psycopg.Connection, token: str) -> bool:
    """Sign out: the token stops working. True if it was a live session."""
    if not plausible_secret(token):
        return False
    with conn.transaction():
        cur = conn.execute(
            "update sessions set is_active = false where token = %s and is_active",
            (hash_secret(token),),
        )
    return cur.rowcount > 0


def revoke_all_sessions(conn: psycopg.Connection, user_id: int) -> int:
    """End every active session of a user (password change, disable, suspected theft)."""
    with conn.transaction():
        cur = conn.execute(
            "update sessions set is_active = false where user_id = %s and is_active", (user_id,)
        )
    return cur.rowcount

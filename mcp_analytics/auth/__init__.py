"""Dashboard users and sessions: bcrypt passwords, lockout, hashed session tokens."""

from __future__ import annotations

import psycopg

from mcp_analytics.auth.binding import SETTING as USER_ID_SETTING
from mcp_analytics.auth.binding import bind_user
from mcp_analytics.auth.passwords import PasswordPolicyError, hash_password, verify_password
from mcp_analytics.auth.policy import AuthConfigError, AuthPolicy, load_policy
from mcp_analytics.auth.sessions import (
    NewSession,
    SessionInfo,
    create_session,
    revoke_all_sessions,
    revoke_session,
    validate_session,
)
from mcp_analytics.auth.tokens import hash_secret
from mcp_analytics.auth.users import (
    GENERIC_FAILURE,
    ROLES,
    AuthenticationError,
    User,
    UserError,
    authenticate,
    create_user,
    get_user,
    list_users,
    set_active,
    set_password,
    unlock_user,
)


def login(
    conn: psycopg.Connection,
    username: str,
    password: str,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> NewSession:
    """Authenticate and open a session; raises AuthenticationError on any failure."""
    user = authenticate(conn, username, password)
    return create_session(conn, user.id, ip_address=ip_address, user_agent=user_agent)


__all__ = [
    "GENERIC_FAILURE",
    "ROLES",
    "USER_ID_SETTING",
    "AuthConfigError",
    "AuthPolicy",
    "AuthenticationError",
    "NewSession",
    "PasswordPolicyError",
    "SessionInfo",
    "User",
    "UserError",
    "authenticate",
    "bind_user",
    "create_session",
    "create_user",
    "get_user",
    "hash_password",
    "hash_secret",
    "list_users",
    "load_policy",
    "login",
    "revoke_all_sessions",
    "revoke_session",
    "set_active",
    "set_password",
    "unlock_user",
    "validate_session",
    "verify_password",
]

"""Users, passwords, lockout and sessions through the Python API, on a real database."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from collections.abc import Iterator

import bcrypt
import psycopg
import pytest

from mcp_analytics import auth
from mcp_analytics.auth import passwords
from tests.helpers.db import set_config

PASSWORD = "correct horse battery"


SEED_AUTH = {
    "auth.max_login_attempts": "5",
    "auth.lockout_duration_minutes": "15",
    "auth.session_timeout_hours": "24",
}


@pytest.fixture
def conn(module_db: str) -> Iterator[psycopg.Connection]:
    """The module's database (one per module: creating databases is slow on a busy server),
    with the seed's auth settings back in place; tests use distinct usernames."""
    with psycopg.connect(module_db, autocommit=True) as c:
        for key, value in SEED_AUTH.items():
            c.execute(
                "insert into system_configuration (config_key, config_value) values (%s, %s)"
                " on conflict (config_key) do update set config_value = excluded.config_value",
                (key, value),
            )
        yield c


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """Counts bcrypt verifications (the real bcrypt still runs)."""
    calls: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(1)
        return real(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting)
    return calls


def plain_user(conn: psycopg.Connection, username: str) -> int:
    """A user without a usable password (no bcrypt cost), for session tests."""
    return conn.execute(
        "insert into users (username, password_hash) values (%s, '!') returning id", (username,)
    ).fetchone()[0]


def test_create_user_stores_only_a_cost_12_hash(conn) -> None:
    user = auth.create_user(conn, "alice", PASSWORD, email="alice@example.org")
    assert (user.username, user.role, user.is_active) == ("alice", "READ_ONLY", True)
    (stored,) = conn.execute("select password_hash from users where id = %s", (user.id,)).fetchone()
    assert stored.startswith("$2b$12$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    dump = conn.execute(
        "select row_to_json(u)::text from users u where id = %s", (user.id,)
    ).fetchone()[0]
    assert PASSWORD not in dump
    assert "password_hash" not in repr(auth.list_users(conn))
    with pytest.raises(auth.UserError):
        auth.create_user(conn, "alice", PASSWORD)


def test_password_rules_refuse_before_hashing(conn, checks) -> None:
    for bad in ("short", "x" * 73, " padded password ", "é" * 37):
        with pytest.raises(auth.PasswordPolicyError) as err:
            auth.create_user(conn, "bob", bad)
        assert bad not in str(err.value)
    with pytest.raises(auth.UserError):
        auth.create_user(conn, "bad name", PASSWORD)
    assert auth.get_user(conn, "bob") is None
    assert not checks  # refused before any bcrypt work


def test_authenticate_success_sets_last_login_and_resets_counter(conn) -> None:
    user = auth.create_user(conn, "carol", PASSWORD)
    conn.execute("update users set login_attempts = 2 where id = %s", (user.id,))
    logged = auth.authenticate(conn, "carol", PASSWORD)
    assert logged.id == user.id and logged.login_attempts == 0
    assert logged.last_login is not None
    assert abs(logged.last_login - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_lockout_after_max_attempts_then_expiry_and_unlock(conn) -> None:
    set_config(conn, "auth.max_login_attempts", 3)
    set_config(conn, "auth.lockout_duration_minutes", 30)
    user = auth.create_user(conn, "dave", PASSWORD)
    for expected in (1, 2, 3):
        with pytest.raises(auth.AuthenticationError):
            auth.authenticate(conn, "dave", "wrong password")
        assert auth.get_user(conn, "dave").login_attempts == expected
    locked = auth.get_user(conn, "dave")
    assert locked.locked
    remaining = locked.locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < remaining <= dt.timedelta(minutes=30)
    # The right password does not open a locked account, and does not extend the lock.
    with pytest.raises(auth.AuthenticationError):
        auth.authenticate(conn, "dave", PASSWORD)
    assert auth.get_user(conn, "dave").locked_until == locked.locked_until
    # The lock runs out: the right password works and the counter starts again.
    conn.execute(
        "update users set locked_until = now() - interval '1 second' where id = %s", (user.id,)
    )
    assert auth.authenticate(conn, "dave", PASSWORD).login_attempts == 0
    # An administrator can lift a lock at once.
    conn.execute(
        "update users set locked_until = now() + interval '1 hour', login_attempts = 3"
        " where id = %s",
        (user.id,),
    )
    unlocked = auth.unlock_user(conn, "dave")
    assert not unlocked.locked and unlocked.login_attempts == 0


def test_a_lapsed_lock_starts_a_fresh_count(conn) -> None:
    set_config(conn, "auth.max_login_attempts", 2)
    auth.create_user(conn, "erin", PASSWORD)
    conn.execute(
        "update users set login_attempts = 2, locked_until = now() - interval '1 minute'"
        " where username = 'erin'"
    )
    with pytest.raises(auth.AuthenticationError):
        auth.authenticate(conn, "erin", "wrong password")
    after = auth.get_user(conn, "erin")
    assert after.login_attempts == 1 and not after.locked


def test_every_failure_looks_the_same_and_costs_one_bcrypt_check(conn, checks) -> None:
    auth.create_user(conn, "frank", PASSWORD)
    conn.execute(
        "insert into users (username, password_hash, is_active) select 'gina', password_hash,"
        " false from users where username = 'frank'"
    )
    conn.execute(
        "insert into users (username, password_hash, locked_until) select 'hank', password_hash,"
        " now() + interval '1 hour' from users where username = 'frank'"
    )
    cases = {
        "unknown user": ("nobody", PASSWORD),
        "disabled": ("gina", PASSWORD),
        "locked": ("hank", PASSWORD),
        "wrong password": ("frank", "wrong password"),
        "too long": ("frank", "x" * 200),
        "unusable name": ("fr\x00ank", PASSWORD),
        "no name": ("", PASSWORD),
    }
    messages = {}
    for case, (username, password) in cases.items():
        before = len(checks)
        with pytest.raises(auth.AuthenticationError) as err:
            auth.authenticate(conn, username, password)
        assert len(checks) - before == 1, case
        messages[case] = (type(err.value), str(err.value))
    assert set(messages.values()) == {(auth.AuthenticationError, auth.GENERIC_FAILURE)}


def test_concurrent_failures_are_all_counted(module_db: str, conn) -> None:
    auth.create_user(conn, "ivan", PASSWORD)
    barrier = threading.Barrier(4)
    failures: list[str] = []

    def attempt() -> None:
        with psycopg.connect(module_db, autocommit=True) as c:
            barrier.wait(timeout=60)
            try:
                auth.authenticate(c, "ivan", "wrong password")
            except auth.AuthenticationError:
                failures.append("x")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 4
    assert auth.get_user(conn, "ivan").login_attempts == 4


def test_authenticate_refuses_to_run_inside_a_transaction(module_db: str) -> None:
    # A caller's rollback would otherwise erase the failed attempt.
    with psycopg.connect(module_db) as c:
        c.execute("select 1")
        with pytest.raises(RuntimeError):
            auth.authenticate(c, "anyone", PASSWORD)


def test_weak_hashes_are_upgraded_at_login(conn) -> None:
    weak = bcrypt.hashpw(b"old password", bcrypt.gensalt(rounds=4)).decode()
    conn.execute("insert into users (username, password_hash) values ('june', %s)", (weak,))
    auth.authenticate(conn, "june", "old password")
    (stored,) = conn.execute("select password_hash from users where username = 'june'").fetchone()
    assert stored.startswith("$2b$12$") and bcrypt.checkpw(b"old password", stored.encode())


def test_session_tokens_are_random_256_bits_and_stored_hashed(conn) -> None:
    set_config(conn, "auth.session_timeout_hours", 2)
    uid = plain_user(conn, "kim")
    one = auth.create_session(conn, uid, ip_address="10.0.0.1", user_agent="pytest")
    two = auth.create_session(conn, uid)
    assert len(base64.urlsafe_b64decode(one.token + "=")) >= 32
    assert one.token != two.token and one.id != two.id
    assert one.token not in repr(one)
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert abs(one.expires_at - expected) < dt.timedelta(minutes=1)
    dump = conn.execute("select string_agg(row_to_json(s)::text, ' ') from sessions s").fetchone()[
        0
    ]
    assert one.token not in dump and two.token not in dump
    stored = conn.execute("select token from sessions where id = %s", (one.id,)).fetchone()[0]
    assert stored == hashlib.sha256(one.token.encode()).hexdigest()


def test_validate_revoke_and_expiry(conn) -> None:
    uid = plain_user(conn, "lena")
    other = plain_user(conn, "mona")
    s1, s2 = auth.create_session(conn, uid), auth.create_session(conn, uid)
    s3 = auth.create_session(conn, other)
    conn.execute(
        "update sessions set last_accessed = now() - interval '1 hour' where user_id = %s", (uid,)
    )
    info = auth.validate_session(conn, s1.token)
    assert info is not None and (info.id, info.user_id, info.username) == (s1.id, uid, "lena")
    touched = conn.execute(
        "select last_accessed > now() - interval '1 minute' from sessions where id = %s", (s1.id,)
    ).fetchone()[0]
    assert touched
    for bogus in ("", "x" * 10_000, s1.token + "x", None):
        assert auth.validate_session(conn, bogus) is None
    # The stored hash itself is not a token.
    stored = conn.execute("select token from sessions where id = %s", (s1.id,)).fetchone()[0]
    assert auth.validate_session(conn, stored) is None

    assert auth.revoke_session(conn, s1.token) is True
    assert auth.validate_session(conn, s1.token) is None
    assert auth.revoke_session(conn, s1.token) is False
    assert auth.validate_session(conn, s2.token) is not None

    assert auth.revoke_all_sessions(conn, uid) == 1
    assert auth.validate_session(conn, s2.token) is None
    assert auth.validate_session(conn, s3.token) is not None

    conn.execute(
        "update sessions set created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' where id = %s",
        (s3.id,),
    )
    assert auth.validate_session(conn, s3.token) is None
    # Expired sessions stay deletable by retention (the seed's cleanup statement).
    assert conn.execute("delete from sessions where expires_at < now()").rowcount >= 1
    assert conn.execute("select count(*) from sessions where id = %s", (s3.id,)).fetchone()[0] == 0


def test_sessions_die_with_their_user(conn) -> None:
    uid = plain_user(conn, "nina")
    s = auth.create_session(conn, uid)
    conn.execute(
        "update users set locked_until = now() + interval '5 minutes' where id = %s", (uid,)
    )
    assert auth.validate_session(conn, s.token) is None
    auth.unlock_user(conn, "nina")
    assert auth.validate_session(conn, s.token) is not None
    auth.set_active(conn, "nina", False)
    assert auth.validate_session(conn, s.token) is None
    auth.set_active(conn, "nina", True)
    assert auth.validate_session(conn, s.token) is None  # disabling ended it for good


def test_login_opens_a_session_and_password_change_ends_it(conn) -> None:
    auth.create_user(conn, "olga", PASSWORD)
    session = auth.login(conn, "olga", PASSWORD, user_agent="pytest")
    assert auth.validate_session(conn, session.token).username == "olga"
    auth.set_password(conn, "olga", "another good password")
    assert auth.validate_session(conn, session.token) is None


def test_auth_settings_are_validated(conn) -> None:
    assert auth.load_policy(conn) == auth.AuthPolicy()  # the seed's defaults
    set_config(conn, "auth.max_login_attempts", "many")
    with pytest.raises(auth.AuthConfigError):
        auth.load_policy(conn)
    set_config(conn, "auth.max_login_attempts", 4)
    set_config(conn, "auth.session_timeout_hours", 0)
    with pytest.raises(auth.AuthConfigError):
        auth.load_policy(conn)
    conn.execute(
        "delete from system_configuration where config_key like 'auth.%'"
    )  # fixture restores
    assert auth.load_policy(conn) == auth.AuthPolicy()

"""API keys for the OTLP receiver: 256 random bits, shown once, stored as their SHA-256.

`create_key`, `list_keys` and `revoke_key` run with the admin URL (`mcp-analytics keys`).
The receiver, connected as the ingest role, checks a key with `KeyChecker`, which asks the
database function `api_key_valid(hash)` (bootstrap_sql/071) and never reads the table.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from mcp_analytics.auth.tokens import hash_secret, new_secret, plausible_secret
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse import db

log = logging.getLogger("mcp_analytics.otlp")

KEY_PREFIX = "mcpa_"
#: how long a key seen valid is still accepted while the database cannot be asked (seconds):
#: an outage must not lock out the senders whose exports are being spooled.
DEFAULT_OUTAGE_GRACE_S = 3600.0


@dataclass(frozen=True)
class NewKey:
    id: int
    name: str
    prefix: str
    #: the key itself: shown once, stored nowhere
    key: str = field(repr=False)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyError_(ValueError):
    """A key operation that cannot be done; the message says why."""


def new_key() -> str:
    """A fresh key: `mcpa_` and 43 URL-safe characters."""
    return new_secret(KEY_PREFIX)


def create_key(conn: psycopg.Connection, name: str) -> NewKey:
    """Create a key named `name` (unique among live keys); raises KeyError_ when taken."""
    name = name.strip()
    if not name or len(name) > 100:
        raise KeyError_("a key name must have 1 to 100 characters")
    key = new_key()
    prefix = key[: len(KEY_PREFIX) + 6]
    try:
        with conn.transaction():
            key_id = db.scalar(
                conn,
                "insert into api_keys (name, key_hash, key_prefix) values (%s, %s, %s)"
                " returning id",
                (name, hash_secret(key), prefix),
            )
    except psycopg.errors.UniqueViolation:
        raise KeyError_(f"a live key named {name!r} exists: revoke it first") from None
    return NewKey(id=key_id, name=name, prefix=prefix, key=key)


def list_keys(conn: psycopg.Connection, *, include_revoked: bool = True) -> list[KeyInfo]:
    """Every key, newest first (never a hash)."""
    query = (
        "select id, name, key_prefix, created_at, created_by, last_used_at, revoked_at"
        " from api_keys"
    )
    if not include_revoked:
        query += " where revoked_at is null"
    rows = conn.execute(query + " order by created_at desc, id desc").fetchall()
    return [KeyInfo(*row) for row in rows]


def revoke_key(conn: psycopg.Connection, name_or_id: str) -> int:
    """Revoke the live key with this name (or numeric id); returns how many were revoked."""
    with conn.transaction():
        if name_or_id.isdigit():
            cur = conn.execute(
                "update api_keys set revoked_at = now() where id = %s and revoked_at is null",
                (int(name_or_id),),
            )
        else:
            cur = conn.execute(
                "update api_keys set revoked_at = now() where name = %s and revoked_at is null",
                (name_or_id,),
            )
    return cur.rowcount


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not plausible_secret(token):
        return None
    return token


class KeyUnverifiable(RuntimeError):
    """The database cannot be asked and the key was not seen valid recently (answered 503)."""


class KeyChecker:
    """Checks keys against the database on every request (a revoked key stops at once).

    While the database cannot be asked, a key seen valid in the last `outage_grace_s` seconds
    is still accepted, so exports keep being spooled through an outage; any other key raises
    KeyUnverifiable."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        *,
        outage_grace_s: float = DEFAULT_OUTAGE_GRACE_S,
    ) -> None:
        self._connect = connect
        self._grace = outage_grace_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._seen: dict[str, float] = {}

    def check(self, key: str) -> bool:
        """True when `key` is a live key; raises KeyUnverifiable (see the class)."""
        digest = hash_secret(key)
        with self._lock:
            try:
                conn = self._connection()
                valid = db.scalar(conn, "select api_key_valid(%s)", (digest,))
            except Exception as err:  # noqa: BLE001 - psycopg or db.connect's DatabaseError
                self._drop()
                seen = self._seen.get(digest)
                if seen is not None and time.monotonic() - seen < self._grace:
                    return True
                log.warning("cannot check an API key: %s", redact_text(str(err)))
                raise KeyUnverifiable("the key cannot be checked now") from None
            if valid:
                self._seen[digest] = time.monotonic()
            else:
                self._seen.pop(digest, None)
            return bool(valid)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

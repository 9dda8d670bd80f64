"""Bearer secrets (dashboard session tokens, OTLP API keys): 256 random bits, stored only as
their SHA-256.

A SHA-256 without salt is enough: the input is 256 random bits, so there is nothing to guess,
and a leaked table of digests opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets

SECRET_BYTES = 32  # 256 bits
#: longer presented values are refused before hashing (a secret is 43 characters and a prefix)
MAX_SECRET_CHARS = 512


def new_secret(prefix: str = "") -> str:
    """A new secret: `prefix` and SECRET_BYTES random bytes in URL-safe base64 (43 characters)."""
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """What the database stores for `secret`: its SHA-256 hex digest (64 characters).

    A string that is not valid UTF-8 (a lone surrogate) is hashed with replacement characters,
    so it matches no issued secret instead of raising.
    """
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def plausible_secret(value: object) -> bool:
    """True when `value` is a non-empty str of at most MAX_SECRET_CHARS, worth looking up."""
    return isinstance(value, str) and 0 < len(value) <= MAX_SECRET_CHARS

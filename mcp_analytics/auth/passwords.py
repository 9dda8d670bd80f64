"""Password hashing with bcrypt (the seed: "bcrypt with salt rounds >= 12").

Every verification costs one bcrypt check, whatever the outcome, so callers can make an
unknown user, a locked account and a wrong password take the same time (`dummy_verify`).
"""

from __future__ import annotations

import re

import bcrypt

#: The seed's floor; hashes below it are upgraded at the next successful login.
MIN_COST = 12
MIN_LENGTH = 8
#: bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
MAX_BYTES = 72

# A cost-12 hash of a random string nobody knows: checked against for unknown users so that
# they cost the same bcrypt work as real ones. Not a secret.
_DUMMY_HASH = b"$2b$12$Vwe84rIcmkmlU3nJXDhqqOi2tNG5vkAt9mZH1kCh/SnBJfaDJRTLm"
_COST = re.compile(r"^\$2[aby]?\$(\d{2})\$")


class PasswordPolicyError(ValueError):
    """A new password that does not meet the rules (the message never contains it)."""


def check_policy(password: str) -> None:
    """Refuse a password the policy does not allow: fewer than MIN_LENGTH characters, more
    than MAX_BYTES bytes in UTF-8 (bcrypt ignores the rest), spaces at either end or control
    characters.

    Raises:
        PasswordPolicyError: why the password is refused (never the password itself).
    """
    if not isinstance(password, str):
        raise PasswordPolicyError("a password must be text")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password.encode()) > MAX_BYTES:
        raise PasswordPolicyError(f"a password may be at most {MAX_BYTES} bytes (bcrypt's limit)")
    if password != password.strip() or any(ord(c) < 32 for c in password):
        raise PasswordPolicyError(
            "a password may not start or end with spaces nor contain control characters"
        )


def hash_password(password: str, cost: int = MIN_COST, *, enforce_policy: bool = True) -> str:
    """A bcrypt hash (`$2b$12$...`) of a password that passes `check_policy`.

    `enforce_policy=False` is for re-hashing a password that just matched an older, cheaper
    hash: it was accepted under the rules of its day.
    """
    if enforce_policy:
        check_policy(password)
    elif len(password.encode()) > MAX_BYTES:
        raise PasswordPolicyError(f"a password may be at most {MAX_BYTES} bytes (bcrypt's limit)")
    salt = bcrypt.gensalt(rounds=max(cost, MIN_COST))
    return bcrypt.hashpw(password.encode(), salt).decode()


def verify_password(password: str, password_hash: str) -> bool:
    """True when `password` matches; always spends one bcrypt check, even on bad input."""
    candidate = password.encode() if isinstance(password, str) else b""
    try:
        stored = password_hash.encode()
        if len(candidate) > MAX_BYTES:
            # could never have been set; still do the work so the answer takes as long
            bcrypt.checkpw(candidate[:MAX_BYTES], stored)
            return False
        return bcrypt.checkpw(candidate, stored)
    except (ValueError, AttributeError):
        # a malformed stored hash: nobody can log in with it, and it costs the same
        dummy_verify(password)
        return False


def dummy_verify(password: str) -> None:
    """One bcrypt check against a hash that matches nothing (for unknown users)."""
    candidate = password.encode()[:MAX_BYTES] if isinstance(password, str) else b""
    bcrypt.checkpw(candidate, _DUMMY_HASH)


def hash_cost(password_hash: str) -> int | None:
    """The bcrypt cost (log2 of the rounds) of a `$2b$NN$...` hash; None for anything else."""
    match = _COST.match(password_hash or "")
    return int(match.group(1)) if match else None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash is not bcrypt or costs less than MIN_COST (rehash at next login)."""
    cost = hash_cost(password_hash)
    return cost is None or cost < MIN_COST

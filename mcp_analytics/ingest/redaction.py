"""Secret redaction for telemetry, applied before anything reaches a table.

Two mechanisms, both driven by `RedactionRules`:

* structural: in dicts (and `[name, value]` pairs, the usual shape of header lists) any value
  whose key *looks like a secret* becomes the marker, recursively. Keys are compared in a
  normalised form: lower-case, everything but letters and digits removed, so `X-API-Key`,
  `x_api_key` and `xApiKey` are all `xapikey`.
* free text: in strings (error messages, stack traces, paths, JSON string leaves) bearer/basic
  credentials, passwords in URLs and `secret_key=value` / `"password": "..."` pairs are masked.

The walk also makes values JSON-safe (string keys, lists for tuples/sets, NaN as a string, no
NUL characters), so one pass prepares a value for the jsonb column.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MARKER = "[REDACTED]"

#: normalised keys that are secrets when they appear exactly.
EXACT_KEYS = frozenset(
    {
        "auth",
        "pass",
        "pwd",
        "session",
        "jwt",
        "dsn",
        "signature",
        "otp",
        "pin",
    }
)
#: normalised keys containing one of these are secrets.
CONTAINS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "accesskey",
    "privatekey",
    "signingkey",
    "sessionkey",
    "authorization",
    "cookie",
    "credential",
)
#: normalised keys ending with one of these are secrets (`max_tokens` is not: it ends in "s").
ENDS_WITH = ("token",)

_NON_ALNUM = re.compile(r"[^a-z0-9]")

# Free-text rules. Bearer/Basic need 8+ credential characters so "basic auth failed" survives.
_BEARER = re.compile(r"\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9\-._~+/]{8,}=*", re.I)
# A password in a URL's userinfo (may contain '/': masking too much beats leaking).
_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I
)
# libpq key/value form: password=secret or password='se cret'.
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)
#: What connection strings and error messages show instead of a password.
CONNECTION_MASK = "***"
_SECRET_WORD = (
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|secret[_-]?key|signing[_-]?key|session[_-]?key|authorization|cookie|credentials?)"
)
# key (optionally quoted) ending in a secret word, then = or :, then a value up to a delimiter.
_KV = re.compile(
    r"(?P<key>(?P<q>[\"']?)[\w.-]*?" + _SECRET_WORD + r"(?P=q))(?P<sep>\s*[=:]\s*)"
    r"(?P<val>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s&,;\"'}\]\)]+)",
    re.I,
)
# Cheap pre-check: substring tests in C are far faster than a case-insensitive alternation.
_QUICK_WORDS = (
    "bearer",
    "basic",
    "token",
    "://",
    "pass",
    "pwd",
    "secret",
    "key",
    "auth",
    "cookie",
    "credential",
)


def normalise_key(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


@dataclass(frozen=True)
class RedactionRules:
    """What counts as a secret. Extra keys and allow-listed keys are given un-normalised or
    normalised alike (they are normalised here); patterns are regular expressions searched in
    the normalised key."""

    marker: str = MARKER
    extra_keys: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    allow_keys: tuple[str, ...] = ()
    free_text: bool = True
    _cache: dict[str, bool] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_extra", frozenset(normalise_key(k) for k in self.extra_keys))
        object.__setattr__(self, "_allow", frozenset(normalise_key(k) for k in self.allow_keys))
        object.__setattr__(self, "_patterns", tuple(re.compile(p, re.I) for p in self.patterns))

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None) -> RedactionRules:
        """Rules from the `analytics.redaction` configuration value (a JSON object)."""
        if not value:
            return cls()
        if not isinstance(value, Mapping):
            raise ValueError("analytics.redaction must be a JSON object")

        def strings(name: str) -> tuple[str, ...]:
            items = value.get(name) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"analytics.redaction.{name} must be a list of strings")
            return tuple(items)

        marker = value.get("marker", MARKER)
        if not isinstance(marker, str) or not marker:
            raise ValueError("analytics.redaction.marker must be a non-empty string")
        return cls(
            marker=marker,
            extra_keys=strings("extra_keys"),
            patterns=strings("patterns"),
            allow_keys=strings("allow_keys"),
            free_text=bool(value.get("free_text", True)),
        )

    def is_secret_key(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            hit = self._decide(key)
            if len(self._cache) > 10_000:  # bounded: keys come from untrusted input
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def _decide(self, key: str) -> bool:
        norm = normalise_key(key)
        if norm in self._allow:  # type: ignore[attr-defined]
            return False
        if norm in EXACT_KEYS or norm in self._extra:  # type: ignore[attr-defined]
            return True
        if any(word in norm for word in CONTAINS) or norm.endswith(ENDS_WITH):
            return True
        return any(p.search(norm) for p in self._patterns)  # type: ignore[attr-defined]

    # -- free text -------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """Mask credentials inside a free-text string (and drop NUL characters)."""
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if not self.free_text:
            return value
        low = value.lower()
        # Spelled out: several times faster than any() over _QUICK_WORDS or a regex.
        if not (
            "key" in low
            or "pass" in low
            or "token" in low
            or "secret" in low
            or "auth" in low
            or "bearer" in low
            or "basic" in low
            or "://" in low
            or "pwd" in low
            or "cookie" in low
            or "credential" in low
        ):
            return value
        marker = self.marker
        value = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{marker}", value)
        value = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{marker}@", value)

        def kv(m: re.Match[str]) -> str:
            if m["val"] == marker or m["val"].lower() in ("bearer", "basic"):
                return m.group(0)
            q = m["val"][0] if m["val"][:1] in ("'", '"') else ""
            return f"{m['key']}{m['sep']}{q}{marker}{q}"

        return _KV.sub(kv, value)

    # -- structures -------------------------------------------------------------------------

    def value(self, value: Any) -> Any:
        """A redacted, JSON-safe copy of `value` (dicts, lists, scalars, common Python types)."""
        return self._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is int or kind is bool:
            return value
        if kind is dict:
            # The common case, inlined: scalars without a recursive call.
            out = {}
            secret = self.is_secret_key
            marker = self.marker
            for k, v in value.items():
                key = k if type(k) is str else str(k)
                if "\x00" in key:
                    key = key.replace("\x00", "\ufffd")
                if secret(key):
                    out[key] = marker
                    continue
                vkind = type(v)
                if vkind is str:
                    out[key] = self.text(v)
                elif v is None or vkind is int or vkind is bool:
                    out[key] = v
                else:
                    out[key] = self._walk(v, depth + 1)
            return out
        if kind is list:
            # Before the checks below: isinstance against the Mapping ABC is slow.
            if depth > 200:
                return "[TOO DEEP]"
            if len(value) == 2 and isinstance(value[0], str) and self.is_secret_key(value[0]):
                return [self.text(value[0]), self.marker]
            return [self._walk(v, depth + 1) for v in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if depth > 200:  # a cycle or absurd nesting: keep the marker rather than recurse forever
            return "[TOO DEEP]"
        if isinstance(value, Mapping):
            return self._walk(dict(value), depth + 1)
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            # [name, value] pairs: the usual list form of headers.
            if len(items) == 2 and isinstance(items[0], str) and self.is_secret_key(items[0]):
                return [self.text(items[0]), self.marker]
            return [self._walk(v, depth + 1) for v in items]
        return self._walk(_jsonable(value), depth + 1)

    def headers(self, headers: Mapping[str, Any] | Iterable[Any] | None) -> Any:
        """Headers are structures like any other; kept as a name for readability at call sites."""
        return self.value(headers)


def _jsonable(value: Any) -> Any:
    """JSON form of the Python values a tool result commonly holds."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return {"_bytes_base64": base64.b64encode(data[:1024]).decode(), "size": len(data)}
    for attr in ("model_dump", "_asdict", "to_dict"):  # pydantic models (mcp types), namedtuples
        method = getattr(value, attr, None)
        if callable(method):
            try:
                return method(mode="json") if attr == "model_dump" else method()
            except Exception:  # noqa: BLE001 - fall back to the string form
                break
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


DEFAULT_RULES = RedactionRules()


def redact_url(url: str) -> str:
    """`url` with any password replaced by `CONNECTION_MASK`; safe on non-URLs too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{CONNECTION_MASK}@{netloc[1]}"))


def redact_text(text: str) -> str:
    """Mask passwords of connection strings in free text (error messages can echo one)."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{CONNECTION_MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group(1)}{CONNECTION_MASK}", text)

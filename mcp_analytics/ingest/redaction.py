"""Secret redaction for telemetry, applied before anything reaches a table.

Two mechanisms, both driven by `RedactionRules`:

* structural: in dicts (and `[name, value]` pairs, the usual shape of header lists) any value
  whose key *looks like a secret* becomes the marker, recursively. Keys are compared in a
  normalised form: lower-case, everything but letters and digits removed, so `X-API-Key`,
  `x_api_key` and `xApiKey` are all `xapikey`.
* free text: in strings (error messages, stack traces, paths, JSON string leaves, the raw text
  of a line that is not JSON) the *detectors* mask `key=value` / `"key": "value"` /
  `["key", value]` where the key is a secret key (a value cut before its closing quote is still
  a value), passwords in URLs, `Bearer`/`Basic` credentials, private key blocks, JWTs, cloud
  access key ids and vendor API tokens, payment card numbers (Luhn) and IBANs (mod 97).

Every detector runs in time linear in the length of the text: patterns start at the start of a
token (a fixed-width look-behind), use possessive quantifiers, and a value's end is found in one
scan, so no text makes the regex engine retry from every position (what made a 12 KB string
take 15 s). bench/bench_redaction.py measures it.

The walk also makes values JSON-safe (string keys, lists for tuples/sets, NaN as a string, no
NUL characters), so one pass prepares a value for the jsonb column, and refuses nesting deeper
than `MAX_DEPTH` (`NestingTooDeep`) instead of recursing without bound.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stdnum import iban as _iban
from stdnum import luhn as _luhn

MARKER = "[REDACTED]"
#: containers nested deeper than this are refused (`NestingTooDeep`); PostgreSQL, orjson and
#: Python's recursion all have limits of their own a few times higher.
MAX_DEPTH = 200
#: what `value(..., too_deep=TOO_DEEP)` puts in place of deeper containers (rejects only).
TOO_DEEP = "[TOO DEEP]"

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
ENDS_WITH = ("token", "pwd")

#: The documented defaults of `analytics.redaction` (bootstrap 064 installs the same).
DEFAULT_EXTRA_KEYS = ("ssn",)
DEFAULT_PATTERNS = ("^acct",)

#: Free-text detectors, in the order they run; `detectors` in the configuration picks some.
DETECTORS = (
    "private_key",
    "url_password",
    "bearer",
    "jwt",
    "cloud_key",
    "api_token",
    "key_value",
    "payment_card",
    "iban",
)

_NON_ALNUM = re.compile(r"[^a-z0-9]")


class NestingTooDeep(ValueError):
    """A value nests arrays/objects deeper than `MAX_DEPTH` levels."""

    def __init__(self) -> None:
        super().__init__(
            f"nested deeper than {MAX_DEPTH} levels of arrays/objects (flatten it or cap it "
            "at the source)"
        )


def normalise_key(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


# ----------------------------------------------------------------------------- patterns
# Each starts at a token boundary (fixed-width look-behind) and is possessive, so a failed
# attempt costs at most the token it started on: linear in the text whatever it holds.

# A password in a URL's userinfo (may contain '/' and ':', but not '://': a scan stops at the
# next URL, so no part of the text is scanned for two URLs).
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z0-9+.-]++://)(?P<user>[^:/@\s]*+):"
    r"(?P<pw>(?:[^@\s:]++|:(?!//))*+)@"
)
# libpq key/value form: password=secret, password='se cret', password='it\'s'.
_KV_PASSWORD = re.compile(r"(password\s*+=\s*+)('(?:[^'\\]++|\\.)*+'?|\S++)", re.I)
_BEARER = re.compile(
    r"(?<![\w-])(?P<scheme>Bearer|Basic|Token|Digest|Negotiate)(?P<sp>\s++)"
    r"(?P<cred>[A-Za-z0-9\-._~+/]{8,}+=*+)",
    re.I,
)
_PRIVATE_KEY = re.compile(
    r"(?P<begin>-----BEGIN (?P<kind>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?: BLOCK)?-----)"
    r"(?:[^-]++|-(?!----END ))*+(?:-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"
    r"(?:\.[A-Za-z0-9_-]*+){0,2}+"
)
# AWS access key ids (the documented unique-id prefixes) and Google API keys. These start
# with a literal (the engine then skips to its occurrences); the token boundary before the
# match is checked by `_at_boundary`.
_AWS_KEY = re.compile(
    r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
)
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])")
# GitHub, GitLab, Slack and Stripe tokens: prefixes their vendors publish for secret scanning.
_API_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}+|github_pat_[A-Za-z0-9_]{22,}+"
    r"|glpat-[A-Za-z0-9_-]{20,}+|xox[abposr]-[A-Za-z0-9-]{10,}+|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+)"
)
#: strings up to this length are remembered with their redacted form (telemetry repeats them).
_CACHED_LENGTH = 64
# 13+ digits, optionally in groups split by one space or dash; checked in Python (a failed
# attempt stops within 13 digits, a run of more is consumed whole: linear).
_CARD = re.compile(r"[0-9](?:[ -]?[0-9]){12,}+")
_CARD_GROUPS = re.compile(r"[0-9]++")
# Two capital letters, two digits, then 11+ capitals/digits (optionally grouped).
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){11,}+")
_PATTERN_LITERAL = re.compile(r"\^?([a-z0-9]+)\$?")
# Every byte but a-z and 0-9: deleted by bytes.translate (in C, far cheaper than a regex).
_NOT_ALNUM_BYTES = bytes(c for c in range(256) if not (48 <= c <= 57 or 97 <= c <= 122))


def _normalised_text(low: str) -> str:
    """`low` (lower-cased) with everything but a-z and 0-9 removed, as `normalise_key` does to
    a key: every secret key in the text is then a substring of it."""
    if low.isascii():
        return low.encode("ascii").translate(None, _NOT_ALNUM_BYTES).decode("ascii")
    return _NON_ALNUM.sub("", low)


# key=value, key: value, "key": "value", \"key\": ..., and ["key", value] (header pairs).
_KEY = re.compile(
    r"\[\s*+(?P<pq>\\?[\"'])(?P<pkey>[\w.-]++)(?P=pq)\s*+,\s*+"
    r"|(?<![\w.-])(?P<key>[\w.-]++)(?:\\?[\"'])?\s*+[=:]\s*+"
)
_DQ_VALUE = re.compile(r'"(?:[^"\\]++|\\.)*+(?:(?P<close>")|\\?\Z)', re.S)
_ESCAPED_DQ_VALUE = re.compile(r'\\"(?:[^"\\]++|\\[^"])*+(?:(?P<close>\\")|(?=")|\\?\Z)', re.S)
_SQ_VALUE = re.compile(r"'[^']*+(?:(?P<close>')|\Z)")
_BARE_VALUE = re.compile(r"(?:[^\s&,;\"'}\])\\]++|\\(?![\"nrt]))++")
_SPACES = re.compile(r"\s++")
# Tokens of a JSON-ish structure, to find where an object/array value ends.
_STRUCT_TOKEN = re.compile(r'[^"\[\]{}\\]++|\\.|"(?:[^"\\]++|\\.)*+"?|[\[{]|[\]}]|\\', re.S)
_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate"})

# Card networks (issuer prefixes and lengths), so a random id that passes Luhn (1 in 10) is
# masked only when it also looks like a card.
_CARD_RANGES = (
    ((4,), (13, 16, 19)),  # Visa
    (tuple(range(51, 56)) + tuple(range(2221, 2721)), (16,)),  # Mastercard
    ((34, 37), (15,)),  # American Express
    ((6011, 65) + tuple(range(644, 650)), (16, 17, 18, 19)),  # Discover
    (tuple(range(3528, 3590)), (16, 17, 18, 19)),  # JCB
    ((36, 38, 39) + tuple(range(300, 306)), (14, 15, 16, 17, 18, 19)),  # Diners
    ((62,), (16, 17, 18, 19)),  # UnionPay
    ((50, 56, 57, 58, 63, 67), tuple(range(12, 20))),  # Maestro
)
_CARD_PREFIXES = {
    (str(p), n) for prefixes, lengths in _CARD_RANGES for p in prefixes for n in lengths
}


def is_card_number(digits: str) -> bool:
    """True for 12-19 digits with a card network's prefix and length and a valid Luhn digit."""
    n = len(digits)
    if not 12 <= n <= 19:
        return False
    if not any((digits[:k], n) in _CARD_PREFIXES for k in (1, 2, 3, 4)):
        return False
    return _luhn.is_valid(digits)


def is_iban(compact: str) -> bool:
    """True for an IBAN (no separators): the country's length and format, and mod 97 == 1."""
    if not 15 <= len(compact) <= 34:
        return False
    # Mod 97 first (cheap), then the country's registered format.
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1 and _iban.is_valid(compact)


@dataclass(frozen=True)
class RedactionRules:
    """What counts as a secret. Extra keys and allow-listed keys are given un-normalised or
    normalised alike (they are normalised here); patterns are regular expressions searched in
    the normalised key. `detectors` names the free-text detectors that run (`DETECTORS`)."""

    marker: str = MARKER
    extra_keys: tuple[str, ...] = DEFAULT_EXTRA_KEYS
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    allow_keys: tuple[str, ...] = ()
    free_text: bool = True
    detectors: tuple[str, ...] = DETECTORS
    _cache: dict[str, bool] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        unknown = [d for d in self.detectors if d not in DETECTORS]
        if unknown:
            raise ValueError(
                f"unknown redaction detector(s) {', '.join(unknown)} "
                f"(expected some of {', '.join(DETECTORS)})"
            )
        object.__setattr__(self, "_extra", frozenset(normalise_key(k) for k in self.extra_keys))
        object.__setattr__(self, "_allow", frozenset(normalise_key(k) for k in self.allow_keys))
        object.__setattr__(self, "_patterns", tuple(re.compile(p, re.I) for p in self.patterns))
        object.__setattr__(self, "_on", frozenset(self.detectors))
        object.__setattr__(self, "_key_hint", self._key_hint_pattern())
        object.__setattr__(self, "_text_cache", {})

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None) -> RedactionRules:
        """Rules from the `analytics.redaction` configuration value (a JSON object); a setting
        that is absent keeps its default, an empty list means none.

        Raises:
            ValueError: a setting of the wrong type, a bad regular expression, an unknown
                detector (the message names it).
        """
        if not value:
            return cls()
        if not isinstance(value, Mapping):
            raise ValueError("analytics.redaction must be a JSON object")

        def strings(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            if name not in value:
                return default
            items = value.get(name) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"analytics.redaction.{name} must be a list of strings")
            return tuple(items)

        marker = value.get("marker", MARKER)
        if not isinstance(marker, str) or not marker:
            raise ValueError("analytics.redaction.marker must be a non-empty string")
        patterns = strings("patterns", DEFAULT_PATTERNS)
        for p in patterns:
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"analytics.redaction.patterns: {p!r}: {err}") from None
        return cls(
            marker=marker,
            extra_keys=strings("extra_keys", DEFAULT_EXTRA_KEYS),
            patterns=patterns,
            allow_keys=strings("allow_keys", ()),
            free_text=bool(value.get("free_text", True)),
            detectors=strings("detectors", DETECTORS),
        )

    def _key_hint_pattern(self) -> re.Pattern[str] | None:
        """A pattern found in the normalised text whenever some key in it is a secret key (the
        secret words, the extra keys, the literal patterns), so the `key=value` scan is skipped
        for the many strings without one; None when a pattern is not a plain word."""
        words = set(EXACT_KEYS) | set(CONTAINS) | set(ENDS_WITH) | self._extra  # type: ignore[attr-defined]
        for pattern in self.patterns:
            literal = _PATTERN_LITERAL.fullmatch(pattern.lower())
            if literal is None:
                return None
            words.add(literal.group(1))
        words.discard("")
        return re.compile("|".join(sorted(words, key=len, reverse=True)))

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
        """Mask credentials inside a free-text string (and drop NUL characters). Linear in
        `len(value)`. Each detector runs only where a substring test (in C) says it might
        match, and short strings are remembered: most strings cost a dictionary lookup."""
        if len(value) > _CACHED_LENGTH:
            return self._text(value)
        cache = self._text_cache  # type: ignore[attr-defined]
        out = cache.get(value)
        if out is None:
            out = self._text(value)
            if len(cache) >= 4096:  # bounded: strings come from untrusted input
                cache.clear()
            cache[value] = out
        return out

    def _text(self, value: str) -> str:  # noqa: C901 - every string leaf: one flat function
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if not self.free_text:
            return value
        on = self._on  # type: ignore[attr-defined]
        marker = self.marker
        kv = "=" in value or ":" in value or "[" in value
        if len(value) >= 13:  # shorter: no token shape, bearer credential, card or IBAN
            if "-----BEGIN" in value and "private_key" in on:
                value = _PRIVATE_KEY.sub(lambda m: m["begin"] + marker, value)
            if "eyJ" in value and "jwt" in on:
                value = _JWT.sub(marker, value)
            if "A" in value and "cloud_key" in on:
                value = _AWS_KEY.sub(self._mask_at_boundary, value)
                if "AIza" in value:
                    value = _GOOGLE_KEY.sub(self._mask_at_boundary, value)
            if "api_token" in on and (
                "gh" in value
                or "github_pat_" in value
                or "glpat-" in value
                or "xox" in value
                or "k_live_" in value
                or "k_test_" in value
            ):
                value = _API_TOKEN.sub(marker, value)
            low = value.lower()
            if "bearer" in on and (
                "bearer" in low
                or "basic" in low
                or "token" in low
                or "digest" in low
                or "negotiate" in low
            ):
                value = _BEARER.sub(lambda m: f"{m['scheme']}{m['sp']}{marker}", value)
        else:
            if not kv:
                return value
            low = value.lower()
        if "://" in value and "url_password" in on:
            value = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{marker}@", value)
        if kv and "key_value" in on:
            hint = self._key_hint  # type: ignore[attr-defined]
            if hint is None or hint.search(_normalised_text(low)):
                value = self._key_values(value)
        if len(value) >= 13:
            if "payment_card" in on:
                value = _CARD.sub(self._mask_cards, value)
            if "iban" in on:
                value = _IBAN.sub(self._mask_iban, value)
        return value

    def _mask_at_boundary(self, m: re.Match[str]) -> str:
        """The marker for a token match that starts a token (not inside a longer one)."""
        start = m.start()
        if start and m.string[start - 1].isalnum():
            return m.group(0)
        return self.marker

    def _key_values(self, text: str) -> str:
        """Mask the value of every secret key in `text` (one left-to-right scan)."""
        secret = self.is_secret_key
        marker = self.marker
        out: list[str] = []
        last = pos = 0
        search = _KEY.search
        while (m := search(text, pos)) is not None:
            pos = m.end()
            key = m["pkey"] if m["pkey"] is not None else m["key"]
            if not secret(key):
                continue
            span = _value_span(text, pos, marker)
            if span is None:
                continue
            start, end, resume = span
            out.append(text[last:start])
            out.append(marker)
            last = end
            pos = resume
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)

    def _mask_cards(self, m: re.Match[str]) -> str:
        run = m.group(0)
        if m.start() and m.string[m.start() - 1].isalnum():
            return run  # inside a longer token (an id, a hash)
        groups = [(g.start(), g.end()) for g in _CARD_GROUPS.finditer(run)]
        spans = []
        i = 0
        while i < len(groups):
            found = None
            digits = ""
            for j in range(i, len(groups)):
                if j > i and groups[j][1] - groups[j][0] < 3:
                    break  # cards are written in groups of 3 digits or more
                digits += run[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 12 and is_card_number(digits):
                    found = j
            if found is None:
                i += 1
                continue
            spans.append((groups[i][0], groups[found][1]))
            i = found + 1
        if not spans:
            return run
        out, last = [], 0
        for start, end in spans:
            out += [run[last:start], self.marker]
            last = end
        out.append(run[last:])
        return "".join(out)

    def _mask_iban(self, m: re.Match[str]) -> str:
        run = m.group(0)
        if m.start() and m.string[m.start() - 1].isalnum():
            return run
        # An IBAN starts where the match starts; it may end before the run does (a grouped
        # IBAN followed by a capitalised word): try each group boundary, longest first.
        head = run[:70]  # 34 characters and their separators at most
        ends = [k for k, c in enumerate(head) if c in " -"] + [len(head)]
        for end in reversed(ends):
            compact = run[:end].replace(" ", "").replace("-", "")
            if len(compact) > 34:
                continue
            if len(compact) < 15:
                break
            if is_iban(compact):
                return self.marker + run[end:]
        return run

    # -- structures -------------------------------------------------------------------------

    def value(self, value: Any, *, too_deep: str | None = None) -> Any:
        """A redacted, JSON-safe copy of `value` (dicts, lists, scalars, common Python types).

        Raises:
            NestingTooDeep: containers nested deeper than `MAX_DEPTH` (also a cycle), unless
                `too_deep` is given: then the deeper part is replaced by that string (for
                rejects, which must be writable whatever they hold).
        """
        if too_deep is None:
            return self._walk(value, 0)
        try:
            return self._walk(value, 0)
        except NestingTooDeep:
            cutting = dataclasses.replace(self)
            object.__setattr__(cutting, "_too_deep", too_deep)
            return cutting._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> Any:  # noqa: C901 - the hot walk, inlined
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is int or kind is bool:
            return value
        if kind is dict:
            if depth >= MAX_DEPTH:
                return self._deeper()
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
            if depth >= MAX_DEPTH:
                return self._deeper()
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
        if isinstance(value, Mapping):
            return self._walk(dict(value), depth)
        if isinstance(value, list | tuple | set | frozenset):
            if depth >= MAX_DEPTH:
                return self._deeper()
            items = list(value)
            # [name, value] pairs: the usual list form of headers.
            if len(items) == 2 and isinstance(items[0], str) and self.is_secret_key(items[0]):
                return [self.text(items[0]), self.marker]
            return [self._walk(v, depth + 1) for v in items]
        return self._walk(_jsonable(value), depth + 1)

    def _deeper(self) -> str:
        """What replaces a container at `MAX_DEPTH`: an error, or the cut marker."""
        marker = getattr(self, "_too_deep", None)
        if marker is None:
            raise NestingTooDeep()
        return marker

    def headers(self, headers: Mapping[str, Any] | Iterable[Any] | None) -> Any:
        """Headers are structures like any other; kept as a name for readability at call sites."""
        return self.value(headers)


def _value_span(text: str, i: int, marker: str) -> tuple[int, int, int] | None:
    """Where the value starting at `text[i]` is: (mask start, mask end, scan resume), the
    quotes kept outside the mask; None when there is no value. A quoted value without its
    closing quote (a torn line) runs to the end of the text."""
    if i >= len(text) or text.startswith(marker, i):
        return None
    c = text[i]
    if c == '"' or c == "'" or (c == "\\" and text.startswith('\\"', i)):
        return _quoted_span(text, i)
    if c in "{[":
        end = _structure_end(text, i)
        return i, end, end
    m = _BARE_VALUE.match(text, i)
    if m is None:
        return None
    end = m.end()
    if m.group(0).lower() in _SCHEMES:
        # `Authorization: Bearer <credential>`: keep the scheme, mask the credential.
        sp = _SPACES.match(text, end)
        if sp is not None and not text.startswith(marker, sp.end()):
            cred = _BARE_VALUE.match(text, sp.end())
            if cred is not None:
                return sp.end(), cred.end(), cred.end()
        return None
    return i, end, end


def _quoted_span(text: str, i: int) -> tuple[int, int, int] | None:
    """`_value_span` of a value in quotes ("...", '...' or \\"...\\" inside a JSON string)."""
    c = text[i]
    pattern = _DQ_VALUE if c == '"' else _SQ_VALUE if c == "'" else _ESCAPED_DQ_VALUE
    width = 2 if c == "\\" else 1
    m = pattern.match(text, i)
    if m is None:  # cannot happen: each pattern also ends at the end of the text
        return None
    end = m.end()
    stop = m.start("close") if m["close"] is not None else end
    if stop == i + width:
        return None  # an empty value
    return i + width, stop, end


def _structure_end(text: str, i: int) -> int:
    """End of the JSON-ish object/array starting at `text[i]` (the end of the text when it is
    never closed): one scan over its tokens, strings skipped."""
    depth = 0
    for m in _STRUCT_TOKEN.finditer(text, i):
        tok = m.group(0)
        if tok == "{" or tok == "[":
            depth += 1
        elif tok == "}" or tok == "]":
            depth -= 1
            if depth == 0:
                return m.end()
    return len(text)


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

#: What connection strings and error messages show instead of a password.
CONNECTION_MASK = "***"


def redact_url(url: str) -> str:
    """`url` with any password replaced by `CONNECTION_MASK`; safe on non-URLs too (a libpq
    key/value string `host=... password=...` is masked as well)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    masked = urlunsplit(parts._replace(netloc=f"{userinfo}:{CONNECTION_MASK}@{netloc[1]}"))
    return redact_text(masked)


def redact_text(text: str) -> str:
    """Mask passwords of connection strings in free text (error messages can echo one): URL
    userinfo and libpq `password=...`, quoted or not. Linear in `len(text)`."""
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{CONNECTION_MASK}@", text)
    if "=" in text:
        text = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}{CONNECTION_MASK}", text)
    return text

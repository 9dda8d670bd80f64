"""The error class of an MCP operation: ok, tool_error, caller_error, server_error or
transport_error (docs/analytics.md, "Error classes").

`error_class(success, error_code)` is a pure function of the two columns every ingest path
fills (the collector, the loader and the OTLP receiver, through `ingest.events.prepare`), so a
row means the same whichever way it came. The rules are data, `error_classes.toml`;
bootstrap_sql/080's SQL function `mcp_error_class(success, error_code)` applies the same rows
to rows written around `prepare`, and a test holds the two together.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

OK: Final = "ok"
TOOL_ERROR: Final = "tool_error"
CALLER_ERROR: Final = "caller_error"
SERVER_ERROR: Final = "server_error"
TRANSPORT_ERROR: Final = "transport_error"
#: every class, in the order the marts' columns follow
ERROR_CLASSES: Final = (OK, TOOL_ERROR, CALLER_ERROR, SERVER_ERROR, TRANSPORT_ERROR)
#: the classes that count against a server's error budget (a caller's mistake does not)
BUDGET_CLASSES: Final = (TOOL_ERROR, SERVER_ERROR, TRANSPORT_ERROR)

_NUMBER = re.compile(r"[+-]?[0-9]{1,9}")
_HTTP_STATUS = re.compile(r"http[ _.:/-]?([0-9]{3})", re.IGNORECASE)
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
# ASCII only, like the SQL function (a Unicode-aware strip or lower() would differ from it)
_BLANKS = " \t\n\r\f\v"
# Distinct codes seen are few (a server's exception types and codes); the bound only keeps a
# sender of random codes from growing the cache without end.
_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class Rules:
    """The table of error_classes.toml: exact codes, inclusive code ranges, normalised names."""

    codes: dict[int, str]
    ranges: tuple[tuple[int, int, str], ...]
    names: dict[str, str]

    def of_number(self, number: int) -> str:
        """The class of a failed operation whose code is `number`."""
        found = self.codes.get(number)
        if found is not None:
            return found
        for low, high, cls in self.ranges:
            if low <= number <= high:
                return cls
        return SERVER_ERROR


@cache
def rules() -> Rules:
    """The rules of error_classes.toml, read once.

    Raises:
        ValueError: a row names a class that is not one of ERROR_CLASSES.
    """
    text = resources.files("mcp_analytics.analytics").joinpath("error_classes.toml").read_text()
    data = tomllib.loads(text)
    if tuple(data["classes"]) != ERROR_CLASSES:
        raise ValueError(f"error_classes.toml: classes {data['classes']} != {ERROR_CLASSES}")
    codes = {int(code): cls for code, cls in data["codes"].items()}
    ranges = tuple((int(r["low"]), int(r["high"]), r["class"]) for r in data["ranges"])
    names = dict(data["names"])
    for cls in [*codes.values(), *(r[2] for r in ranges), *names.values()]:
        if cls not in ERROR_CLASSES or cls == OK:
            raise ValueError(f"error_classes.toml: {cls!r} is not an error class")
    for name in names:
        if normalise_name(name) != name:
            raise ValueError(f"error_classes.toml: name {name!r} is not in normal form")
    return Rules(codes, ranges, names)


def normalise_name(code: str) -> str:
    """The form names are matched in: the last dotted part, ASCII letters and digits only,
    lowercase (`asyncio.exceptions.CancelledError` -> `cancellederror`, `_OTHER` -> `other`)."""
    return _NOT_ALNUM.sub("", code.rsplit(".", 1)[-1]).lower()


def classify_code(error_code: str | None) -> str:
    """The class of a *failed* operation with `error_code` (None or blank: server_error)."""
    if error_code is None:
        return SERVER_ERROR
    cached = _SEEN.get(error_code)
    if cached is not None:
        return cached
    found = _classify_code(error_code)
    if len(_SEEN) < _CACHE_LIMIT:
        _SEEN[error_code] = found
    return found


_SEEN: dict[str, str] = {}


def _classify_code(error_code: str) -> str:
    table = rules()
    code = error_code.strip(_BLANKS)
    if not code:
        return SERVER_ERROR
    if _NUMBER.fullmatch(code):
        return table.of_number(int(code))
    status = _HTTP_STATUS.fullmatch(code)
    if status:
        return table.of_number(int(status.group(1)))
    return table.names.get(normalise_name(code), SERVER_ERROR)


def error_class(success: bool, error_code: str | None) -> str:
    """ok when `success`, else the class of `error_code` (see error_classes.toml).

    >>> error_class(False, "-32602")
    'caller_error'
    >>> error_class(False, "tool_error")
    'tool_error'
    >>> error_class(False, "httpx.ReadTimeout")
    'transport_error'
    >>> error_class(False, "ZeroDivisionError")
    'server_error'
    """
    if success:
        return OK
    return classify_code(error_code)

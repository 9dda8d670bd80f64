"""What a recorded event costs in memory, and large payloads capped on the caller's side.

The collector bounds its buffer in bytes, so each `record_*` call sizes its event on the
caller's thread, cheaply:

* a JSON payload (parameters, a tool result, headers, ...) whose estimate stays under
  `SMALL_PAYLOAD_BYTES` is kept as it is and counted at that estimate (a walk that stops as
  soon as it passes the limit, so a large payload costs no more to estimate than a small one);
* a larger one is serialised once by the standard library's C encoder and kept as that text
  (`JsonText`), counted at its length: the buffer then holds compact text instead of the
  caller's object graph (several times larger), and no reference to an object the caller may
  change. The collector's thread parses it back before `prepare`, which sees the same values
  (`json`'s round trip is exact for what the encoder takes; the encoder's `default` is the
  redaction walk's own conversion of non-JSON types);
* a `response_data` or `request_body` larger than `max_payload_bytes` is replaced there and
  then by a marker like the one `prepare` writes for a capped body, without its `sha256` (the
  text is not redacted yet: no hash of it is kept), with `"capped_by": "collector"`: the
  caller's thread never holds or passes on more than that. A string payload is measured by
  its length, without serialising anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp_analytics.ingest.events import CAPPED_JSON, TABLES

# The redaction walk's conversion of non-JSON values (datetime, Decimal, models, ...): the
# serialised text then parses back to what the walk would have made of the object.
from mcp_analytics.ingest.redaction import _jsonable as jsonable

#: payloads estimated below this are kept as objects; above, as JSON text.
SMALL_PAYLOAD_BYTES = 4096
#: default for `max_payload_bytes`: a capped body beyond this is cut on the caller's side.
DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
#: characters of a payload cut on the caller's side kept in its marker (as `prepare` keeps).
PREVIEW_CHARS = 256
#: what an event costs besides its payloads (the dict, its keys, small values).
EVENT_OVERHEAD_BYTES = 1200

# Rough CPython sizes: a str header, a number, a container and each of its slots/entries.
_STR, _SCALAR, _CONTAINER, _ITEM, _ENTRY = 49, 32, 64, 8, 104

_JSON_FIELDS = {
    t: frozenset(c.name for c in cols if c.kind == "jsonb") for t, cols in TABLES.items()
}
_TEXT_FIELDS = {
    t: frozenset(c.name for c in cols if c.kind == "text") for t, cols in TABLES.items()
}


class JsonText(str):
    """A payload serialised on the caller's side: parse it back (`json.loads`) before use."""

    __slots__ = ()


def estimate(value: Any, limit: int) -> int:  # noqa: C901 - one flat loop over the kinds
    """About how many bytes of memory `value` holds (nested containers included), counting
    no further once past `limit`: the walk costs at most about `limit` bytes' worth of
    nodes, whatever the size of `value`."""
    total = 0
    todo = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is str:
            total += _STR + len(item)
        elif kind is dict:
            total += _CONTAINER + _ENTRY * len(item)
            if total > limit:
                return total
            for key, sub in item.items():
                if type(key) is str:
                    total += len(key)
                todo.append(sub)
        elif kind is list or kind is tuple:
            total += _CONTAINER + _ITEM * len(item)
            if total > limit:
                return total
            todo.extend(item)
        elif item is None or kind is int or kind is float or kind is bool:
            total += _SCALAR
        else:
            # Another type (a pydantic model, a dataclass, ...): its size is not its shallow
            # size; past the limit, so that it is serialised and measured as text.
            return limit + 1
        if total > limit:
            return total
    return total


def _cut(text: str, size: int) -> dict[str, Any]:
    return {
        "_truncated": True,
        "original_size_bytes": size,
        "preview": text[:PREVIEW_CHARS],
        "capped_by": "collector",
    }


def measure(table: str, event: dict[str, Any], max_payload_bytes: int) -> tuple[int, int]:
    """Size `event` (changed in place: large payloads become `JsonText` or a marker) and
    return (its accounted bytes, how many payloads were cut). Never raises on a payload it
    cannot serialise: that one stays as it is (`prepare` will say what is wrong with it)."""
    size = EVENT_OVERHEAD_BYTES
    cut = 0
    capped = CAPPED_JSON.get(table, ())
    for name in _JSON_FIELDS[table]:
        value = event.get(name)
        if value is None:
            continue
        if type(value) is str:
            if name in capped and len(value) > max_payload_bytes:
                event[name] = _cut(value, len(value.encode("utf-8", "surrogatepass")))
                cut += 1
                size += _STR + PREVIEW_CHARS + _CONTAINER
            else:
                size += _STR + len(value)
            continue
        guess = estimate(value, SMALL_PAYLOAD_BYTES)
        if guess <= SMALL_PAYLOAD_BYTES:
            size += guess
            continue
        try:
            text = json.dumps(value, ensure_ascii=False, default=jsonable)
        except (TypeError, ValueError, RecursionError):  # a cycle, too deep: left to prepare
            size += SMALL_PAYLOAD_BYTES
            continue
        if name in capped and len(text) > max_payload_bytes:
            event[name] = _cut(text, len(text.encode("utf-8", "surrogatepass")))
            cut += 1
            size += _STR + PREVIEW_CHARS + _CONTAINER
        else:
            event[name] = JsonText(text)
            size += _STR + len(text)
    for name in _TEXT_FIELDS[table]:
        value = event.get(name)
        if type(value) is str:
            size += _STR + len(value)
    return size, cut


def parsed(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event` with its `JsonText` payloads parsed back (on the collector's thread)."""
    return {k: (json.loads(v) if type(v) is JsonText else v) for k, v in event.items()}

"""The event schema of each raw table, and the preparation of one event for writing.

`prepare(table, event)` validates and coerces one event (a dict of column values), redacts
secrets, fills the computed columns (`parameters_hash`, `response_size_bytes`), caps large
response bodies and returns a *row*: a dict of every column of the table to a value the writer
can put in a COPY stream (None, bool, int, str, datetime). Errors are `EventError`s whose message
names the field. The collector and the bulk loader both go through here, so a row means the
same thing whichever way it arrived. docs/ingest.md documents the schema.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import ipaddress
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from mcp_analytics.analytics.error_classes import ERROR_CLASSES, error_class
from mcp_analytics.ingest.redaction import DEFAULT_RULES, NestingTooDeep, RedactionRules

UTC = dt.UTC
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
DEFAULT_MAX_RESPONSE_BYTES = 65536
ERROR_LEVELS = ("debug", "info", "warn", "error", "fatal")
# Common spellings of the levels, mapped onto the enum.
LEVEL_ALIASES = {"warning": "warn", "critical": "fatal", "err": "error", "trace": "debug"}
AGGREGATION_PERIODS = ("1m", "5m", "15m", "1h", "1d", "1w")


class EventError(ValueError):
    """An event that cannot be stored; the message names the offending field."""


@dataclass(frozen=True)
class Column:
    name: str
    #: PostgreSQL type as declared in bootstrap_sql (the staging table uses it too).
    pg_type: str
    #: varchar | text | int | bool | numeric | jsonb | inet | timestamptz | level
    kind: str
    required: bool = False
    #: value used when the field is missing or null (the seed's column default).
    default: Any = None
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    precision: tuple[int, int] | None = None
    choices: tuple[str, ...] | None = None
    #: free text that gets credential masking.
    free_text: bool = False
    #: filled by `prepare`; a given value is kept only where stated in the docs.
    computed: bool = False


def _vc(name: str, n: int, **kw: Any) -> Column:
    return Column(name, f"varchar({n})", "varchar", max_length=n, **kw)


def _int(name: str, **kw: Any) -> Column:
    return Column(name, "integer", "int", **kw)


def _text(name: str, **kw: Any) -> Column:
    return Column(name, "text", "text", **kw)


def _json(name: str, **kw: Any) -> Column:
    return Column(name, "jsonb", "jsonb", **kw)


def _ts(name: str, **kw: Any) -> Column:
    return Column(name, "timestamp with time zone", "timestamptz", **kw)


def _bool(name: str, **kw: Any) -> Column:
    return Column(name, "boolean", "bool", **kw)


def _num(name: str, p: int, s: int, **kw: Any) -> Column:
    return Column(name, f"numeric({p},{s})", "numeric", precision=(p, s), **kw)


TIMESTAMP = _ts("timestamp")
#: bootstrap_sql/067: the event's user_id when no `users` row has it (set by the writer, which
#: then stores user_id null); a given value is kept (rows exported and loaded again).
UNMATCHED_USER_ID = _int("unmatched_user_id", computed=True)
#: {"column": original} of the values cut to fit their column (bootstrap_sql/060).
ORIGINAL_VALUES = _json("original_values", computed=True)

TABLES: dict[str, tuple[Column, ...]] = {
    "tool_usage_logs": (
        _vc("execution_id", 255, required=True),
        _vc("bcp_name", 255, required=True),
        _vc("tool_name", 128, required=True),
        _vc("operation", 100, required=True),
        _json("parameters"),
        _json("response_data"),
        _text("error_message", free_text=True),
        _text("error_stack", free_text=True),
        _vc("error_code", 255),
        _int("duration_ms", required=True, min_value=0),
        _num("memory_usage_mb", 10, 2),
        _num("cpu_usage_percent", 5, 2),
        _bool("success", required=True),
        _vc("tool_version", 256),
        _int("user_id"),
        UNMATCHED_USER_ID,
        _vc("session_id", 255),
        _vc("request_id", 255),
        TIMESTAMP,
        Column("ip_address", "inet", "inet"),
        _text("user_agent"),
        _vc("parameters_hash", 64, computed=True),
        _int("response_size_bytes", min_value=0, computed=True),
        _bool("cache_hit", default=False),
        ORIGINAL_VALUES,
        # OTLP (bootstrap_sql/070): the calling client, the protocol, the span's place.
        _vc("client_name", 255),
        _vc("client_version", 100),
        _vc("protocol_version", 50),
        _vc("transport", 50),
        _vc("trace_id", 32),
        _vc("span_id", 16),
        _vc("parent_span_id", 16),
        # bootstrap_sql/080: ok | tool_error | caller_error | server_error | transport_error,
        # from success and error_code (analytics/error_classes.py), replacing a given value.
        _vc("error_class", 20, computed=True, choices=ERROR_CLASSES),
    ),
    "mcp_request_logs": (
        _vc("request_id", 255, required=True),
        _vc("method", 32, required=True),
        _text("path", required=True, free_text=True),
        _json("query_params"),
        _json("request_headers"),
        _json("request_body"),
        _int("response_status_code", required=True, min_value=100, max_value=599),
        _json("response_data"),
        _json("response_headers"),
        _int("response_size_bytes", min_value=0, computed=True),
        _int("duration_ms", required=True, min_value=0),
        _int("queue_time_ms", min_value=0),
        _int("processing_time_ms", min_value=0),
        _bool("success", required=True),
        _vc("error_type", 255),
        _int("user_id"),
        UNMATCHED_USER_ID,
        _vc("session_id", 255),
        TIMESTAMP,
        _text("user_agent"),
        Column("ip_address", "inet", "inet"),
        _vc("client_version", 256),
        _vc("correlation_id", 255),
        _vc("trace_id", 255),
        _vc("span_id", 255),
        ORIGINAL_VALUES,
    ),
    "error_logs": (
        Column("level", "error_level_enum", "level", required=True, choices=ERROR_LEVELS),
        _text("message", required=True, free_text=True),
        _text("stack_trace", free_text=True),
        _vc("error_code", 255),
        _json("context", default={}),
        _json("tool_context"),
        _int("user_id"),
        UNMATCHED_USER_ID,
        _vc("session_id", 255),
        _vc("request_id", 255),
        _vc("execution_id", 255),
        TIMESTAMP,
        _bool("resolved", default=False),
        _text("resolution_notes", free_text=True),
        _int("resolved_by"),
        _ts("resolved_at"),
        _vc("category", 50),
        _int("severity", min_value=1, max_value=5),
        _vc("impact_level", 20),
        _vc("environment", 255, default="production"),
        _vc("service_version", 256),
        _vc("deployment_id", 255),
        _int("occurrence_count", default=1, min_value=1),
        # Default: the event's own timestamp (the seed's current_timestamp would be load time).
        _ts("first_occurrence", computed=True),
        _ts("last_occurrence", computed=True),
        ORIGINAL_VALUES,
    ),
    "performance_metrics": (
        _vc("metric_name", 255, required=True),
        _num("metric_value", 15, 4, required=True),
        _json("labels", default={}),
        TIMESTAMP,
        _vc("aggregation_period", 20, required=True, choices=AGGREGATION_PERIODS),
        _vc("measurement_type", 50),
        _vc("unit", 63),
        _vc("service", 255, default="mcp-server"),
        _vc("environment", 255, default="production"),
        ORIGINAL_VALUES,
        # OTLP (bootstrap_sql/070): the window a point covers and a histogram's distribution.
        _ts("start_timestamp"),
        _vc("temporality", 20),
        _num("histogram_count", 20, 0, min_value=0),
        _num("histogram_sum", 38, 9),
        _num("histogram_min", 38, 9),
        _num("histogram_max", 38, 9),
        _json("histogram_bounds"),
        _json("histogram_bucket_counts"),
    ),
}

COLUMNS: dict[str, dict[str, Column]] = {t: {c.name: c for c in cols} for t, cols in TABLES.items()}

#: response bodies capped at `max_response_bytes`.
CAPPED_JSON = {
    "tool_usage_logs": ("response_data",),
    "mcp_request_logs": ("response_data", "request_body"),
}


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 kept: the form hashed and stored."""
    return _canonical_encode(value)


def _not_serialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _make_canonical_encoder() -> Callable[[Any], str]:
    """What json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False) runs, built once: the C encoder it makes on every call, without the
    circular-reference bookkeeping (only the redaction walk's fresh, acyclic output is
    encoded). Without the C accelerator: the pure-Python encoder, same text."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode
    encode = make(
        None, _not_serialisable, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def canonical(value: Any) -> str:
        return "".join(encode(value, 0))

    return canonical


_canonical_encode = _make_canonical_encoder()
_SORT_KEYS = orjson.OPT_SORT_KEYS


def canonical_json_of_redacted(value: Any) -> str:
    """`canonical_json` of a value the redaction walk returned (dicts with str keys, lists,
    str, int, bool, None, finite floats), by orjson where its text is sure to be the same:
    about five times cheaper. The two differ only on floats below 1e-4 (orjson writes
    `0.00001` and `1e-6` where json writes `1e-05` and `1e-06`: any output holding `e-` or
    `0.0000` takes json's path) and on what orjson refuses (integers beyond 64 bits, lone
    surrogates, nesting deeper than 255), which takes json's path too; keys sort alike (by
    code point) and strings are escaped alike. tests/ingest/test_canonical_json.py compares
    both on every code point and on random floats and documents."""
    try:
        out = orjson.dumps(value, option=_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return _canonical_encode(value)
    if b"e-" in out or b"0.0000" in out:
        return _canonical_encode(value)
    return out.decode()


def parameters_hash(parameters: Any, rules: RedactionRules = DEFAULT_RULES) -> str | None:
    """SHA-256 hex of the canonical JSON of the *redacted* parameters (what `prepare` stores)."""
    if parameters is None:
        return None
    text = canonical_json_of_redacted(rules.value(parameters))
    return hashlib.sha256(text.encode()).hexdigest()


def truncation_marker(text: str, size: int) -> str:
    """What a too-large JSON body is replaced with: still valid JSON, says what happened."""
    marker = {
        "_truncated": True,
        "original_size_bytes": size,
        "sha256": hashlib.sha256(text.encode("utf-8", "replace")).hexdigest(),
        "preview": text[:256],
    }
    return canonical_json(marker)


def parse_timestamp(value: Any, field: str) -> dt.datetime:
    """An aware datetime from an ISO-8601 string, a datetime or a date (naive ones are UTC).

    Raises:
        EventError: anything else, or a string that is not ISO-8601 (named by `field`).
    """
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str):
        try:
            ts = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"{field}: not an ISO-8601 timestamp: {value[:40]!r}") from None
    elif isinstance(value, dt.date):
        ts = dt.datetime(value.year, value.month, value.day)
    else:
        raise EventError(f"{field}: expected an ISO-8601 timestamp string, got {_type(value)}")
    # Naive timestamps are taken as UTC: telemetry has no business in local time.
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _type(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


#: Ends a value cut to fit its column, followed by 8 hex digits of the original's SHA-256, so
#: that two different originals stay two different labels (docs/ingest.md "Length limits").
CUT_MARK = "\u2026"
#: Originals longer than this are kept in `original_values` as a marker (size, SHA-256, start).
MAX_ORIGINAL_CHARS = 8192


def cut_to_fit(value: str, limit: int) -> str:
    """`value` cut to `limit` characters: its start, then `CUT_MARK` and the first 8 hex digits
    of the SHA-256 of the whole value (UTF-8). Returns `value` itself when it fits."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return (value[: max(limit - 1 - len(digest), 0)] + CUT_MARK + digest)[:limit]


class _Altered(NamedTuple):
    """A string column `_c_str` had to change: what was done (for the counts the loader and the
    collector report) and, when cut, the original."""

    column: str
    how: str
    original: str | None = None


#: Per thread, while `prepare` runs: where `_c_str` lists what it altered. The column coercers
#: keep their (col, value, rules) -> value shape, which the generated fast paths stand in for.
_ALTERED = threading.local()


def _note(change: _Altered) -> None:
    notes = getattr(_ALTERED, "notes", None)
    if notes is not None:
        notes.append(change)


def _c_str(col: Column, value: Any, rules: RedactionRules) -> Any:
    if not isinstance(value, str):
        raise EventError(f"{col.name}: expected a string, got {_type(value)}")
    how = None
    if col.free_text:
        value = rules.text(value)
    elif "\x00" in value:
        value = value.replace("\x00", "\ufffd")
        how = "NUL characters replaced"
    if col.choices is not None and value not in col.choices:
        raise EventError(f"{col.name}: must be one of {', '.join(col.choices)}, got {value[:40]!r}")
    if col.required and not value.strip():
        raise EventError(f"{col.name}: must not be empty")
    if col.max_length is not None and len(value) > col.max_length:
        # A label longer than its column never costs the row: stored cut, original kept.
        _note(_Altered(col.name, f"cut to {col.max_length} characters", value))
        return cut_to_fit(value, col.max_length)
    if how is not None:
        _note(_Altered(col.name, how))
    return value


def _c_int(col: Column, value: Any, rules: RedactionRules) -> Any:
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EventError(f"{col.name}: expected an integer, got {_type(value)}")
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise EventError(f"{col.name}: expected an integer, got {value}")
            value = round(value)  # timers give fractional milliseconds
    lo = INT4_MIN if col.min_value is None else col.min_value
    hi = INT4_MAX if col.max_value is None else col.max_value
    if not lo <= value <= hi:
        raise EventError(f"{col.name}: {value} is out of range [{lo}, {hi}]")
    return value


def _c_bool(col: Column, value: Any, rules: RedactionRules) -> Any:
    if value is not True and value is not False:
        raise EventError(f"{col.name}: expected true or false, got {_type(value)}")
    return value


def _c_numeric(col: Column, value: Any, rules: RedactionRules) -> Any:
    name = col.name
    precision, scale = col.precision or (38, 0)
    kind = type(value)
    if kind is float:
        # Fast path (most samples): fixed-point text; the server rounds nothing further.
        if value != value or value in (_INF, -_INF):
            raise EventError(f"{name}: expected a finite number, got {value}")
        text = f"{value:.{scale}f}"
        if abs(float(text)) >= _FLOAT_LIMITS[precision - scale]:
            raise EventError(f"{name}: {value} does not fit numeric({precision},{scale})")
        return text
    if kind is int:
        if abs(value) >= _FLOAT_LIMITS[precision - scale]:
            raise EventError(f"{name}: {value} does not fit numeric({precision},{scale})")
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        raise EventError(f"{name}: expected a number, got {_type(value)}")
    number = (
        decimal.Decimal(value) if not isinstance(value, float) else decimal.Decimal(repr(value))
    )
    if not number.is_finite():
        raise EventError(f"{name}: expected a finite number, got {value}")
    # Too many digits for the column before rounding: refused before quantize, which would
    # need more digits than its context has (decimal.InvalidOperation, not a clear error).
    if number and number.adjusted() > precision - scale:
        raise EventError(f"{name}: {value} does not fit numeric({precision},{scale})")
    number = number.quantize(_QUANTS[scale], rounding=decimal.ROUND_HALF_EVEN, context=_WIDE)
    if abs(number) >= _LIMITS[precision - scale]:
        raise EventError(f"{name}: {value} does not fit numeric({precision},{scale})")
    return str(number)


_INF = float("inf")
_FLOAT_LIMITS = {d: 10**d for d in range(0, 39)}
_QUANTS = {s: decimal.Decimal(1).scaleb(-s) for s in range(0, 39)}
# Room for any numeric(p, s) value (p <= 38) rounded to its scale, and a carry.
_WIDE = decimal.Context(prec=40)
_LIMITS = {d: decimal.Decimal(10) ** d for d in range(0, 39)}


def _c_timestamp(col: Column, value: Any, rules: RedactionRules) -> Any:
    return parse_timestamp(value, col.name)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _c_inet(col: Column, value: Any, rules: RedactionRules) -> Any:
    if not isinstance(value, str):
        raise EventError(f"{col.name}: expected an IP address string, got {_type(value)}")
    # Fast path: a plain dotted IPv4 address without leading zeros is stored as given.
    if _IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_interface(value.strip()))
    except ValueError:
        raise EventError(f"{col.name}: not an IP address: {value[:60]!r}") from None


def _c_level(col: Column, value: Any, rules: RedactionRules) -> Any:
    if not isinstance(value, str):
        raise EventError(f"{col.name}: expected a string, got {_type(value)}")
    level = value.strip().lower()
    level = LEVEL_ALIASES.get(level, level)
    if level not in ERROR_LEVELS:
        allowed = ", ".join(ERROR_LEVELS)
        raise EventError(f"{col.name}: must be one of {allowed}, got {value[:40]!r}")
    return level


def _c_jsonb(col: Column, value: Any, rules: RedactionRules) -> Any:
    try:
        return canonical_json_of_redacted(rules.value(value))
    except NestingTooDeep as err:
        raise EventError(f"{col.name}: {err}") from None
    except (TypeError, ValueError) as err:
        raise EventError(f"{col.name}: not representable as JSON: {err}") from None


_COERCE: dict[str, Callable[[Column, Any, RedactionRules], Any]] = {
    "varchar": _c_str,
    "text": _c_str,
    "int": _c_int,
    "bool": _c_bool,
    "numeric": _c_numeric,
    "timestamptz": _c_timestamp,
    "inet": _c_inet,
    "level": _c_level,
    "jsonb": _c_jsonb,
}


def _default_of(col: Column) -> Any:
    return canonical_json(col.default) if isinstance(col.default, dict) else col.default


# Per table: (name, column, coercer, default) in column order, resolved once.
_PLAN = {
    table: tuple((c.name, c, _COERCE[c.kind], _default_of(c)) for c in cols)
    for table, cols in TABLES.items()
}


def _compile_coercion(table: str) -> Callable[[Callable[[str], Any], RedactionRules], dict]:
    """Per table, a function that coerces every column of an event (`get` is its `.get`) into
    a row dict, generated once: the common cases (a plain string within its length, an int in
    range, a bool) are tested inline and any other value goes to the column's coercer, exactly
    as the loop over `_PLAN` did; that loop's per-column overhead was a third of `prepare`."""
    env: dict[str, Any] = {"EventError": EventError}
    body = []
    names = []
    for i, (name, col, coerce, default) in enumerate(_PLAN[table]):
        env[f"col{i}"], env[f"co{i}"], env[f"d{i}"] = col, coerce, default
        body.append(f"    v = get({name!r})")
        body.append("    if v is None:")
        if col.required:
            body.append(f"        raise EventError({name + ': missing required field'!r})")
        else:
            body.append(f"        c{i} = d{i}")
        fast = None
        value = "v"
        if col.kind in ("varchar", "text") and not col.free_text and col.choices is None:
            limit = col.max_length if col.max_length is not None else 1 << 62
            fast = f'type(v) is str and len(v) <= {limit} and "\\x00" not in v'
            if col.required:
                fast += " and not v[:1].isspace() and v != ''"
        elif col.kind == "int":
            lo = INT4_MIN if col.min_value is None else col.min_value
            hi = INT4_MAX if col.max_value is None else col.max_value
            fast = f"type(v) is int and {lo} <= v <= {hi}"
        elif col.kind == "bool":
            fast = "v is True or v is False"
        elif col.kind == "numeric" and col.precision is not None:
            # Below 10**(p-s) - 1 the rounded text cannot reach the limit `_c_numeric` checks.
            precision, scale = col.precision
            bound = 10 ** (precision - scale) - 1
            fast = f"(type(v) is float or type(v) is int) and {-bound} < v < {bound}"
            value = f'(f"{{v:.{scale}f}}" if type(v) is float else str(v))'
        if fast:
            body.append(f"    elif {fast}:")
            body.append(f"        c{i} = {value}")
        body.append("    else:")
        body.append(f"        c{i} = co{i}(col{i}, v, rules)")
        names.append(f"{name!r}: c{i}")
    src = "def coerce_all(get, rules):\n" + "\n".join(body)
    src += "\n    return {" + ", ".join(names) + "}\n"
    exec(compile(src, f"<events coercion of {table}>", "exec"), env)  # noqa: S102 - our own text
    return env["coerce_all"]


_COERCE_ALL = {table: _compile_coercion(table) for table in TABLES}


# One pass over the event with the per-table rules in line: split up, it costs calls per event.
def prepare(  # noqa: C901
    table: str,
    event: Mapping[str, Any],
    *,
    rules: RedactionRules = DEFAULT_RULES,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    now: Callable[[], dt.datetime] | None = None,
    require_timestamp: bool = False,
    window: TimeWindow | None = None,
    altered: Counter[str] | None = None,
    ahead: Counter[str] | None = None,
) -> dict[str, Any]:
    """Validate, redact and complete one event; returns the row for `table` (every column).

    Every time of the event must lie in `window` around receipt (`now()`, default the clock;
    `window` default `DEFAULT_WINDOW`), else `EventError`. Values changed to fit (a label cut
    to its column, NUL characters replaced, a body capped) are counted in `altered` as
    "<table>.<column>: <what>"; times ahead of receipt by more than `window.warn_ahead` in
    `ahead` as "<table>.<column>". Cut labels keep their original in `original_values`.

    Raises:
        EventError: the event cannot be stored; the message names the field.
    """
    columns = COLUMNS.get(table)
    if columns is None:
        raise EventError(f"table: unknown table {table!r} (expected one of {', '.join(TABLES)})")
    if not isinstance(event, Mapping):
        raise EventError(f"event: expected an object, got {_type(event)}")
    if not columns.keys() >= event.keys():
        unknown = [k for k in event if k not in columns]
        shown = ", ".join(sorted(str(k) for k in unknown)[:5])
        raise EventError(f"{shown}: unknown field(s) for {table}")
    notes: list[_Altered] = []
    _ALTERED.notes = notes
    try:
        row = _COERCE_ALL[table](event.get, rules)
    finally:
        _ALTERED.notes = None
    row["original_values"] = None
    if notes:
        _note_altered(table, row, notes, altered)

    received = (now or _utcnow)()
    if row.get("timestamp") is None:
        if require_timestamp:
            raise EventError("timestamp: missing required field (needed for idempotent reloads)")
        row["timestamp"] = received
    (window or DEFAULT_WINDOW).check(table, row, received, ahead)
    if table == "tool_usage_logs":
        if row["parameters"] is not None:
            row["parameters_hash"] = hashlib.sha256(
                row["parameters"].encode("utf-8", "replace")
            ).hexdigest()
        elif row["parameters_hash"] is not None and not _is_sha256(row["parameters_hash"]):
            raise EventError("parameters_hash: expected 64 hexadecimal characters")
        row["error_class"] = error_class(row["success"], row["error_code"])
    if table == "error_logs":
        row["first_occurrence"] = row["first_occurrence"] or row["timestamp"]
        row["last_occurrence"] = row["last_occurrence"] or row["timestamp"]
    for name in CAPPED_JSON.get(table, ()):
        text = row[name]
        if text is None:
            continue
        size = len(text.encode("utf-8", "replace"))
        if name == "response_data" and row.get("response_size_bytes") is None:
            row["response_size_bytes"] = min(size, INT4_MAX)
        if size > max_response_bytes:
            row[name] = truncation_marker(text, size)
            if altered is not None:
                altered[f"{table}.{name}: capped at {max_response_bytes} bytes"] += 1
    return row


def _note_altered(
    table: str,
    row: dict[str, Any],
    notes: list[_Altered],
    altered: Counter[str] | None,
) -> None:
    originals = {}
    for change in notes:
        name = change.column
        if altered is not None:
            altered[f"{table}.{name}: {change.how}"] += 1
        if change.original is not None:
            original = change.original
            if len(original) > MAX_ORIGINAL_CHARS:
                size = len(original.encode("utf-8", "replace"))
                original = json.loads(truncation_marker(original, size))
            originals[name] = original
    if originals:
        row["original_values"] = canonical_json(originals)


@dataclass(frozen=True)
class TimeWindow:
    """Event times accepted around receipt (system_configuration `analytics.event_time_window`,
    docs/ingest.md "Event times"): older than `max_age` or more than `max_ahead` ahead is
    rejected; more than `warn_ahead` ahead is stored and counted (a client clock running fast).
    """

    max_age: dt.timedelta = dt.timedelta(days=3650)
    max_ahead: dt.timedelta = dt.timedelta(days=1)
    warn_ahead: dt.timedelta = dt.timedelta(minutes=5)

    @classmethod
    def from_config(cls, value: Any) -> TimeWindow:
        """From the setting's JSON: {"max_age_days", "max_ahead_seconds", "warn_ahead_seconds"}
        (each optional, a positive number; missing ones keep the default).

        Raises:
            ValueError: not an object, an unknown key, or a value that is not a positive number.
        """
        if not isinstance(value, dict):
            raise ValueError(f"analytics.event_time_window: expected an object, got {value!r}")
        units = {"max_age_days": 86400, "max_ahead_seconds": 1, "warn_ahead_seconds": 1}
        unknown = sorted(set(value) - set(units))
        if unknown:
            raise ValueError(f"analytics.event_time_window: unknown key(s) {', '.join(unknown)}")
        fields = {}
        for key, seconds in units.items():
            if key not in value:
                continue
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int | float) or not number > 0:
                raise ValueError(
                    f"analytics.event_time_window: {key} must be a positive number, got {number!r}"
                )
            fields[key.rsplit("_", 1)[0]] = dt.timedelta(seconds=min(number * seconds, 1e11))
        return cls(**fields)

    def check(
        self,
        table: str,
        row: Mapping[str, Any],
        received: dt.datetime,
        ahead: Counter[str] | None = None,
    ) -> None:
        """Raise `EventError` for a time of `row` outside the window around `received`; count
        in `ahead` the times ahead of it by more than `warn_ahead`."""
        for name in _TIME_COLUMNS[table]:
            value = row.get(name)
            if value is None:
                continue
            if value > received + self.warn_ahead:
                if value > received + self.max_ahead:
                    raise EventError(
                        f"{name}: {value.isoformat()} is more than {_span(self.max_ahead)} ahead"
                        f" of receipt ({received.isoformat(timespec='seconds')}); fix the"
                        " client's clock, or widen analytics.event_time_window"
                    )
                if ahead is not None:
                    ahead[f"{table}.{name}"] += 1
            elif received - value > self.max_age:
                raise EventError(
                    f"{name}: {value.isoformat()} is more than {_span(self.max_age)} before"
                    f" receipt ({received.isoformat(timespec='seconds')}); fix the client's"
                    " clock, or widen analytics.event_time_window"
                )


def _span(delta: dt.timedelta) -> str:
    if delta.days and not delta.seconds and not delta.microseconds:
        return f"{delta.days} day{'s' if delta.days > 1 else ''}"
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"


DEFAULT_WINDOW = TimeWindow()
_TIME_COLUMNS = {
    table: tuple(c.name for c in cols if c.kind == "timestamptz") for table, cols in TABLES.items()
}


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower())


def _utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def row_to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A prepared row in a JSON-serialisable form (the spool's); `write` accepts it back."""
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}

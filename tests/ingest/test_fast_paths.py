"""The generated per-table fast paths agree with the plain code they stand in for.

`events.prepare` coerces an event's columns with code generated once per table (the common
values tested inline), and `writer.copy_text_line` formats a prepared row with a generated
COPY line formatter. Both exist for speed (bench/README.md); these properties pin them to the
plain path over random events and rows: the column coercers one by one, and psycopg's own COPY
formatter. No database needed.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_analytics.ingest import events, writer
from mcp_analytics.ingest.events import INT4_MAX, INT4_MIN, TABLES, Column, EventError
from mcp_analytics.ingest.redaction import DEFAULT_RULES

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EACH_COLUMN = settings(PROPERTY, max_examples=25)

# Characters that matter to the coercers and to COPY's text format, mixed with any others.
_SPECIAL = st.sampled_from(["\x00", "\t", "\n", "\r", "\\", " ", "\ud800", "é", "N", "password="])
_TEXT = st.lists(st.one_of(_SPECIAL, st.characters()), max_size=12).map("".join)

_ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


def _bounds(col: Column) -> tuple[int, int]:
    if col.kind == "numeric":
        precision, scale = col.precision or (38, 0)
        return -(10 ** (precision - scale)), 10 ** (precision - scale)
    lo = INT4_MIN if col.min_value is None else col.min_value
    hi = INT4_MAX if col.max_value is None else col.max_value
    return lo, hi


def _valid(col: Column) -> st.SearchStrategy[Any]:
    """Values `prepare` accepts for the column."""
    if col.choices is not None:
        return st.sampled_from(col.choices)
    if col.kind in ("varchar", "text"):
        text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
        text = text.filter(lambda s: len(s) <= (col.max_length or 300))
        return text.filter(str.strip) if col.required else text
    if col.kind in ("int", "numeric"):
        lo, hi = _bounds(col)
        return st.integers(lo if col.kind == "int" else lo + 1, hi if col.kind == "int" else hi - 1)
    if col.kind == "timestamptz":
        return st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
    if col.kind == "level":
        return st.sampled_from(events.ERROR_LEVELS)
    if col.kind == "inet":
        return st.ip_addresses().map(str)
    if col.kind == "bool":
        return st.booleans()
    return _ANY_JSON  # jsonb


def _edges(col: Column) -> st.SearchStrategy[Any]:
    """Values at the edges of what the inline tests let through: on both sides of each bound,
    of each length limit, blank and padded text, fractions, other types."""
    if col.kind in ("varchar", "text"):
        n = col.max_length or 300
        return (
            st.text(min_size=max(0, n - 1), max_size=n + 1)
            | _TEXT
            | st.sampled_from(["", " ", "  x", "\tx", "a\x00b", "Warning", " warn"])
        )
    if col.kind in ("int", "numeric"):
        lo, hi = _bounds(col)
        ints = st.sampled_from([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1])
        return (
            ints
            | ints.map(float)
            | st.floats(float(lo - 2), float(hi + 2))
            | st.sampled_from([hi - 0.004, hi - 0.005, hi - 0.006, lo + 0.004, -0.0, 2.5, 0.5])
            | st.decimals(allow_nan=True, places=4)
        )
    if col.kind == "timestamptz":
        return st.datetimes() | st.dates() | st.sampled_from(["2026-01-02", "nope", " 2026-01-02"])
    if col.kind == "level":
        return st.sampled_from(["WARNING", " Err ", "critical", "nope", ""])
    if col.kind == "inet":
        return st.sampled_from(["10.0.0.01", " 10.0.0.1", "::1/64", "256.1.1.1", "1.2.3"])
    if col.kind == "bool":
        return st.sampled_from([0, 1, "true", None])
    return st.floats() | st.sets(st.integers(), max_size=2) | st.dates()  # jsonb


def _value(col: Column) -> st.SearchStrategy[Any]:
    """Values for one column: what a sender may put there, right or wrong."""
    wrong = st.none() | st.booleans() | st.floats() | st.integers() | _TEXT | _ANY_JSON
    return _valid(col) | _edges(col) | wrong


def _valid_events(table: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events that `prepare` accepts: every required column, any of the others."""
    cols = TABLES[table]
    return st.fixed_dictionaries(
        {c.name: _valid(c) for c in cols if c.required},
        optional={c.name: _valid(c) for c in cols if not c.required},
    )


def _events(table: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any events: each column present or not, with any value."""
    return st.fixed_dictionaries({}, optional={c.name: _value(c) for c in TABLES[table]})


def _plain_coercion(table: str, event: dict[str, Any]) -> dict[str, Any]:
    """The loop the generated code replaces: each column's default or its coercer."""
    row = {}
    for col in TABLES[table]:
        value = event.get(col.name)
        if value is None:
            if col.required:
                raise EventError(f"{col.name}: missing required field")
            default = col.default
            row[col.name] = events.canonical_json(default) if isinstance(default, dict) else default
        else:
            row[col.name] = events._COERCE[col.kind](col, value, DEFAULT_RULES)
    return row


def _outcome(coerce: Any, *args: Any) -> tuple[str, Any]:
    try:
        row = coerce(*args)
    except EventError as err:
        return "error", str(err)
    return "row", {k: (type(v), v) for k, v in row.items()}


@pytest.mark.parametrize("table", list(TABLES))
def test_generated_coercion_equals_the_column_coercers(table: str) -> None:
    """Whole events, every column present or not and right or wrong."""
    generated = events._COERCE_ALL[table]

    @PROPERTY
    @given(event=_events(table))
    def agree(event: dict[str, Any]) -> None:
        assert _outcome(generated, event.get, DEFAULT_RULES) == _outcome(
            _plain_coercion, table, event
        )

    agree()


@pytest.mark.parametrize(
    ("table", "column"), [(t, c.name) for t, cols in TABLES.items() for c in cols]
)
def test_generated_coercion_equals_the_column_coercer_at_each_columns_edges(
    table: str, column: str
) -> None:
    """An accepted event with one column given any value, its edges most of all: the inline
    test of that column decides on its own (the other columns take their usual path)."""
    generated = events._COERCE_ALL[table]
    col = events.COLUMNS[table][column]

    @EACH_COLUMN
    @given(event=_valid_events(table), value=_edges(col) | _value(col))
    def agree(event: dict[str, Any], value: Any) -> None:
        event = {**event, column: value}
        assert _outcome(generated, event.get, DEFAULT_RULES) == _outcome(
            _plain_coercion, table, event
        )

    agree()


def test_the_coercion_property_sees_the_fast_paths_and_their_edges() -> None:
    """The inline tests are exercised on both sides of their bounds (not only the slow path)."""
    generated = events._COERCE_ALL["tool_usage_logs"]
    base = {"execution_id": "e", "bcp_name": "b", "tool_name": "t", "operation": "o"}
    for duration, expected in ((0, 0), (INT4_MAX, INT4_MAX), (2.6, 3)):
        row = generated({**base, "duration_ms": duration, "success": True}.get, DEFAULT_RULES)
        assert row["duration_ms"] == expected
    for bad in (-1, INT4_MAX + 1, True):
        with pytest.raises(EventError, match="duration_ms"):
            generated({**base, "duration_ms": bad, "success": True}.get, DEFAULT_RULES)
    row = generated(
        {**base, "duration_ms": 1, "success": True, "cpu_usage_percent": 999.994}.get, DEFAULT_RULES
    )
    assert row["cpu_usage_percent"] == "999.99"
    with pytest.raises(EventError, match="cpu_usage_percent"):
        generated(
            {**base, "duration_ms": 1, "success": True, "cpu_usage_percent": 999.996}.get,
            DEFAULT_RULES,
        )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("memory_usage_mb", decimal.Decimal("99999999999999999999999999.995")),
        ("memory_usage_mb", decimal.Decimal("1e1000")),
        ("cpu_usage_percent", decimal.Decimal("999.995")),
    ],
)
def test_a_decimal_too_long_for_its_column_is_an_event_error(
    column: str, value: decimal.Decimal
) -> None:
    """Found by the properties above: quantize raised decimal.InvalidOperation (a traceback)."""
    event = {"execution_id": "e", "bcp_name": "b", "tool_name": "t", "operation": "o"}
    with pytest.raises(EventError, match=f"{column}: .* does not fit numeric"):
        events.prepare(
            "tool_usage_logs", {**event, "duration_ms": 1, "success": True, column: value}
        )
    fits = events.prepare(
        "tool_usage_logs",
        {**event, "duration_ms": 1, "success": True, column: decimal.Decimal("99.994")},
    )
    assert fits[column] == "99.99"


# --------------------------------------------------------------------------- COPY lines


def _prepared_value(col: Column) -> st.SearchStrategy[Any]:
    """What `prepare` may leave in a column (and a little more): None, str, int, bool, datetime."""
    if col.kind == "int":
        kind = st.integers(INT4_MIN, INT4_MAX)
    elif col.kind == "bool":
        kind = st.booleans()
    elif col.kind == "timestamptz":
        zones = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-3, minutes=-30))])
        kind = st.datetimes(timezones=zones)
    elif col.kind == "numeric":
        kind = st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)
    else:
        kind = _TEXT
    return st.none() | kind


def _rows(table: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({c.name: _prepared_value(c) for c in TABLES[table]})


def _fields(table: str, line: bytes) -> list[Any]:
    """A COPY text line as its fields, timestamps parsed (psycopg writes a space where
    `isoformat` writes a T: the server reads both as the same instant)."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line
    fields: list[Any] = line[:-1].split(b"\t")
    assert len(fields) == len(TABLES[table])
    for i, col in enumerate(TABLES[table]):
        if col.kind == "timestamptz" and fields[i] != b"\\N":
            fields[i] = dt.datetime.fromisoformat(fields[i].decode())
    return fields


@pytest.mark.parametrize("table", list(TABLES))
def test_generated_copy_line_equals_psycopgs_formatting(table: str) -> None:
    formatter = writer._LINE_FORMATTERS[table]

    @PROPERTY
    @given(row=_rows(table) | _events(table).flatmap(_prepared_or_nothing(table)))
    def agree(row: dict[str, Any]) -> None:
        try:
            expected = writer.format_copy_row(table, row)
        except psycopg.DataError:  # a NUL character, which `prepare` never leaves
            assert formatter(row) is None
            with pytest.raises(psycopg.DataError):
                writer.copy_text_line(table, row)
            return
        line = writer.copy_text_line(table, row)
        # What reaches the server: the writer encodes str lines with "replace" (lone
        # surrogates become "?", as psycopg's formatter does).
        assert _fields(table, line.encode("utf-8", "replace")) == _fields(table, expected)
        fast = formatter(row)
        if fast is not None:
            assert fast == line

    agree()


def _prepared_or_nothing(table: str) -> Any:
    """A strategy of the prepared row of `event` (or of nothing, when prepare refuses it)."""

    def prepared(event: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        try:
            return st.just(events.prepare(table, event))
        except EventError:
            return st.nothing()

    return prepared


def test_the_copy_property_sees_the_fast_formatter() -> None:
    """A common row takes the generated formatter (not only psycopg's fallback)."""
    row = events.prepare(
        "tool_usage_logs",
        {
            "execution_id": "e-1", "bcp_name": "b", "tool_name": "t", "operation": "o",
            "success": True, "duration_ms": 5, "timestamp": "2026-01-02T03:04:05Z",
            "parameters": {"q": "a\tb"}, "cpu_usage_percent": 1.5,
        },
    )  # fmt: skip
    line = writer._LINE_FORMATTERS["tool_usage_logs"](row)
    assert line is not None and line.startswith("e-1\tb\tt\to\t{")
    assert '{"q":"a\\\\tb"}' in line  # JSON's backslash doubled by COPY

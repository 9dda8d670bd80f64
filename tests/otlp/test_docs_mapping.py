"""docs/otlp.md's mapping table, row by row: each row's OTLP input stores what the row says."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from mcp_analytics.otlp.batch import Prepared, prepare_mapped
from mcp_analytics.otlp.mapping import map_logs, map_metrics, map_traces

from . import otlp_data as d

DOC = Path(__file__).resolve().parents[2] / "docs" / "otlp.md"
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")
START = d.T0
KINDS = {"SERVER": d.SERVER, "CLIENT": d.CLIENT, "INTERNAL": d.INTERNAL}
SPAN_FIELDS = {
    "kind": lambda v: KINDS[v],
    "trace_id": bytes.fromhex,
    "span_id": bytes.fromhex,
    "parent_span_id": bytes.fromhex,
    "start": lambda v: _nanos(v),
    "duration_ms": float,
}
SEVERITIES = {
    "FATAL": (logs_pb2.SEVERITY_NUMBER_FATAL, "FATAL"),
    "ERROR": (logs_pb2.SEVERITY_NUMBER_ERROR, "ERROR"),
    "WARN": (logs_pb2.SEVERITY_NUMBER_WARN, "WARN"),
}


def mapping_rows() -> list[tuple[str, str, str]]:
    text = DOC.read_text()
    section = text.split("## Mapping", 1)[1].split("### Aliases", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        rows.append(tuple(cells))
    return rows


ROWS = mapping_rows()


def test_the_table_is_found() -> None:
    assert len(ROWS) > 60


def _value(text: str) -> Any:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _assignments(sent: str) -> list[tuple[str, str | None, str]]:
    """`where[attr]=value` / `where.field=value` cells -> (where, attr or field, value)."""
    out = []
    for cell in re.findall(r"`([^`]*)`", sent):
        left, value = cell.split("=", 1)
        m = re.fullmatch(r"(\w+)\[([^\]]+)\]", left)
        if m:
            out.append((m.group(1), "[" + m.group(2), value))
        else:
            where, name = left.split(".", 1)
            out.append((where, name, value))
    return out


def _set_attr(attrs: dict[str, Any], key: str, value: str) -> None:
    if value == "":
        attrs.pop(key, None)
    else:
        attrs[key] = _value(value)


def _fields(
    changes: list[tuple[str, str | None, str]], where: str, attrs: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    """The changes aimed at `where` ("log", "point"): an attribute's ("[key") applied to
    `attrs`, any other yielded as (name, value)."""
    for target, name, value in changes:
        if target != where:
            continue
        assert name is not None, f"a {where} change without a field name"
        if name.startswith("["):
            _set_attr(attrs, name[1:], value)
        else:
            yield name, value


def _build(sent: str) -> Prepared:
    changes = _assignments(sent)
    wheres = {w for w, _, _ in changes}
    res = d.resource()
    for where, name, value in changes:
        if where == "resource":
            _set_attr(res, name[1:], value)
    if wheres & {"log"}:
        return _build_log(changes, res)
    if wheres & {"point"}:
        return _build_point(changes, res)
    if "span" not in wheres and "event" not in wheres and "metric" not in wheres:
        # A resource row: the same resource for a span, a log record and a point.
        return _merge(
            _build_span(changes, res), _build_log(changes, res), _build_point(changes, res)
        )
    return _build_span(changes, res)


def _merge(*parts: Prepared) -> Prepared:
    out = Prepared("traces")
    for p in parts:
        for table, rows in p.rows.items():
            out.rows.setdefault(table, []).extend(rows)
        out.reasons += p.reasons
        out.rejected += p.rejected
    return out


def _build_span(changes: list[tuple[str, str | None, str]], res: dict[str, Any]) -> Prepared:
    attrs = {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "mcp.protocol.version": "2025-11-25",
    }
    fields: dict[str, Any] = {"kind": d.SERVER, "trace_id": TRACE, "span_id": SPAN}
    fields.update({"start": START, "duration_ms": 12.5, "parent_span_id": b""})
    status: list[Any] = [None, ""]
    event_attrs: dict[str, Any] | None = None
    for where, name, value in changes:
        if where == "span" and name.startswith("["):
            _set_attr(attrs, name[1:], value)
        elif where == "event":
            event_attrs = event_attrs or {"exception.type": "ValueError", "exception.message": "x"}
            _set_attr(event_attrs, name[1:], value)
        elif where == "span" and name.startswith("status"):
            if name == "status":
                status[0] = {"ERROR": d.ERROR}[value]
            else:
                status[1] = value
        elif where == "span":
            fields[name] = SPAN_FIELDS[name](value)
    events = None
    if event_attrs is not None:
        events = [
            trace_pb2.Span.Event(
                name="exception", time_unix_nano=START, attributes=d.kvs(event_attrs)
            )
        ]
    span = d.span(
        "tools/call add",
        attrs,
        status=(status[0], status[1]) if status[0] is not None else None,
        events=events,
        **fields,
    )
    if fields["duration_ms"] < 0:
        span.end_time_unix_nano = span.start_time_unix_nano - int(-fields["duration_ms"] * 1e6)
    return prepare_mapped(map_traces(d.traces(span, res=res)), source_name="/v1/traces")


def _build_log(changes: list[tuple[str, str | None, str]], res: dict[str, Any]) -> Prepared:
    body, (number, text) = "database unreachable", SEVERITIES["ERROR"]
    attrs: dict[str, Any] = {}
    span_id = b""
    for name, value in _fields(changes, "log", attrs):
        if name == "body":
            body = value
        elif name == "severity":
            number, text = SEVERITIES[value]
        elif name == "span_id":
            span_id = bytes.fromhex(value)
    record = d.log_record(body, number, text, attrs, trace_id=TRACE, span_id=span_id)
    return prepare_mapped(map_logs(d.logs(record, res=res)), source_name="/v1/logs")


def _build_point(changes: list[tuple[str, str | None, str]], res: dict[str, Any]) -> Prepared:
    kw: dict[str, Any] = {"bounds": (0.1, 1.0), "counts": (1, 2, 3), "total": 0.75}
    attrs = {"mcp.method.name": "tools/call", "gen_ai.tool.name": "add"}
    for name, value in _fields(changes, "point", attrs):
        if name == "counts":
            kw["counts"] = tuple(int(v) for v in value.split(","))
        elif name == "bounds":
            kw["bounds"] = tuple(float(v) for v in value.split(","))
        elif name == "sum":
            kw["total"] = float(value)
        elif name == "temporality":
            kw["temporality"] = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        elif name == "start":
            kw["start"] = _nanos(value)
        elif name == "name":
            kw["name"] = value
    metric = d.histogram_metric(attrs=attrs, **kw)
    return prepare_mapped(map_metrics(d.metrics(metric, res=res)), source_name="/v1/metrics")


def _nanos(iso: str) -> int:
    ts = dt.datetime.fromisoformat(iso)
    return int(ts.timestamp()) * 10**9 + ts.microsecond * 1000


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize(
    ("sent", "column", "stored"), ROWS, ids=[f"row{i + 1}" for i in range(len(ROWS))]
)
def test_mapping_row(sent: str, column: str, stored: str) -> None:
    prepared = _build(sent)
    target = column.strip("`")
    expected = stored.strip("`")
    table, _, name = target.partition(".")
    rows = prepared.rows.get(table, [])
    if expected == "dropped":
        assert rows == [] and prepared.rejected == 0, prepared.reasons
        return
    if expected.startswith("refused: "):
        assert rows == [] and prepared.rejected == 1
        assert expected.removeprefix("refused: ") in prepared.reasons[0]
        return
    assert prepared.rejected == 0, prepared.reasons
    assert len(rows) == 1, rows
    assert _show(rows[0][name]) == expected

"""Builders of OTLP protobuf messages for the tests (the official `opentelemetry-proto` types)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SPAN_KIND_INTERNAL
ERROR = trace_pb2.Status.STATUS_CODE_ERROR
#: 2026-03-04T05:06:07Z in Unix nanoseconds
T0 = 1772600767 * 10**9
_ids = itertools.count(1)


def any_value(value: Any) -> common_pb2.AnyValue:
    out = common_pb2.AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
    return out


def kv(key: str, value: Any) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=any_value(value))


def kvs(attrs: dict[str, Any] | None) -> list[common_pb2.KeyValue]:
    return [kv(k, v) for k, v in (attrs or {}).items()]


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def span(
    name: str = "tools/call add",
    attrs: dict[str, Any] | None = None,
    *,
    kind: int = SERVER,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent_span_id: bytes = b"",
    start: int | None = None,
    duration_ms: float = 12.5,
    status: tuple[int, str] | None = None,
    events: list[trace_pb2.Span.Event] | None = None,
) -> trace_pb2.Span:
    start = T0 + next(_ids) * 1000 if start is None else start
    out = trace_pb2.Span(
        trace_id=new_trace_id() if trace_id is None else trace_id,
        span_id=new_span_id() if span_id is None else span_id,
        parent_span_id=parent_span_id,
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * 1e6),
        attributes=kvs(attrs),
        events=events or [],
    )
    if status is not None:
        out.status.code, out.status.message = status
    return out


def mcp_span(method: str = "tools/call", target: str | None = "add", **kw: Any) -> trace_pb2.Span:
    """A span as the MCP SDK v2 emits it for one inbound request."""
    attrs = {"mcp.method.name": method, "mcp.protocol.version": "2025-11-25"}
    attrs["jsonrpc.request.id"] = "7"
    if method == "tools/call" and target:
        attrs["gen_ai.operation.name"] = "execute_tool"
        attrs["gen_ai.tool.name"] = target
    attrs.update(kw.pop("attrs", {}))
    name = f"{method} {target}" if target else method
    return span(name, attrs, **kw)


def exception_event(
    kind: str = "ValueError", message: str = "boom", stack: str = "Traceback: boom", at: int = 0
) -> trace_pb2.Span.Event:
    return trace_pb2.Span.Event(
        name="exception",
        time_unix_nano=at or T0,
        attributes=kvs(
            {"exception.type": kind, "exception.message": message, "exception.stacktrace": stack}
        ),
    )


def resource(service: str = "hubspot-crm", **attrs: Any) -> dict[str, Any]:
    return {"service.name": service, **attrs}


_RECORDS = {"spans": "spans", "logs": "log_records", "metrics": "metrics"}
_Request = TypeVar(
    "_Request", ExportTraceServiceRequest, ExportLogsServiceRequest, ExportMetricsServiceRequest
)


def _request(
    req: _Request, signal: str, scope: str, records: Iterable[Any], res: dict[str, Any] | None
) -> _Request:
    """`req` with one resource (`res`, default `resource()`) holding one scope named `scope`
    with `records`; `signal` names the fields: resource_<signal>, scope_<signal>."""
    group = getattr(req, f"resource_{signal}").add()
    group.resource.attributes.extend(kvs(res if res is not None else resource()))
    scoped = getattr(group, f"scope_{signal}").add()
    scoped.scope.name = scope
    getattr(scoped, _RECORDS[signal]).extend(records)
    return req


def traces(*spans: trace_pb2.Span, res: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    return _request(ExportTraceServiceRequest(), "spans", "mcp-python-sdk", spans, res)


def log_record(
    body: Any = "database unreachable",
    severity: int = logs_pb2.SEVERITY_NUMBER_ERROR,
    text: str = "ERROR",
    attrs: dict[str, Any] | None = None,
    at: int | None = None,
    trace_id: bytes = b"",
    span_id: bytes = b"",
) -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(
        time_unix_nano=T0 + next(_ids) * 1000 if at is None else at,
        severity_number=severity,
        severity_text=text,
        body=any_value(body),
        attributes=kvs(attrs),
        trace_id=trace_id,
        span_id=span_id,
    )


def logs(
    *records: logs_pb2.LogRecord, res: dict[str, Any] | None = None
) -> ExportLogsServiceRequest:
    return _request(ExportLogsServiceRequest(), "logs", "app", records, res)


def histogram_metric(
    name: str = "mcp.server.operation.duration",
    bounds: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    counts: tuple[int, ...] | None = None,
    total: float = 1.25,
    attrs: dict[str, Any] | None = None,
    at: int = T0,
    start: int = T0 - 60 * 10**9,
    temporality: int = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
) -> metrics_pb2.Metric:
    counts = counts if counts is not None else (1, 2, 3) + (0,) * (len(bounds) - 2)
    point = metrics_pb2.HistogramDataPoint(
        start_time_unix_nano=start,
        time_unix_nano=at,
        count=sum(counts),
        sum=total,
        min=0.005,
        max=0.04,
        bucket_counts=list(counts),
        explicit_bounds=list(bounds),
        attributes=kvs(attrs or {"mcp.method.name": "tools/call", "gen_ai.tool.name": "add"}),
    )
    metric = metrics_pb2.Metric(name=name, unit="s", description="MCP operation duration")
    metric.histogram.aggregation_temporality = temporality
    metric.histogram.data_points.append(point)
    return metric


def gauge_metric(
    name: str = "process.memory.usage", value: float = 123.5, at: int = T0, unit: str = "By"
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    metric.gauge.data_points.append(metrics_pb2.NumberDataPoint(time_unix_nano=at, as_double=value))
    return metric


def metrics(
    *items: metrics_pb2.Metric, res: dict[str, Any] | None = None
) -> ExportMetricsServiceRequest:
    return _request(ExportMetricsServiceRequest(), "metrics", "mcp", items, res)

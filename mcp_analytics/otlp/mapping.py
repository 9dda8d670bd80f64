"""OTLP export requests -> events of the raw tables (docs/otlp.md has the table, row by row).

* A span carrying `mcp.method.name` whose kind is SERVER (or INTERNAL/unspecified, for
  emitters that set no kind) is one MCP operation: a `tool_usage_logs` event. CLIENT, PRODUCER
  and CONSUMER spans are the other side of a call and are not operations of the server.
* A SERVER span with `http.request.method` is an HTTP request: a `mcp_request_logs` event.
* Each `exception` event of any span, and each log record of severity ERROR or above, is an
  `error_logs` event, linked to its operation by `execution_id` (trace id-span id).
* Each metric data point is a `performance_metrics` event; histograms keep count, sum, min,
  max, bounds and bucket counts.

Anything else (spans that are not MCP operations nor HTTP requests, logs below ERROR, points
flagged "no recorded value") is counted as dropped, never an error. An item that cannot be
stored as sent (no ids, ending before it starts, a required value missing) is refused with its
reason, for the receiver to record in `ingest_rejects` and report as a partial success.

Events are plain dicts of column values; `ingest.events.prepare` validates, redacts and caps
them exactly as it does for the collector and the loader.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from google.protobuf import json_format
from google.protobuf.message import Message

from mcp_analytics.otlp.aliases import resolve, resolve_span

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

# opentelemetry.proto.trace.v1.Span.SpanKind and Status.StatusCode values.
KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER = 0, 1, 2
_OPERATION_KINDS = (KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER)
STATUS_ERROR = 2
# SeverityNumber: ERROR is 17-20, FATAL 21-24.
SEVERITY_ERROR, SEVERITY_FATAL = 17, 21
_ERROR_TEXTS = {"ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "ALERT", "EMERGENCY", "EMERG"}
# AggregationTemporality and DataPointFlags.
_TEMPORALITY = {1: "delta", 2: "cumulative"}
_NO_RECORDED_VALUE = 1
# A delta point's window -> the smallest seed aggregation period that holds it.
_PERIODS = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("1d", 86400), ("1w", 604800))
UNKNOWN_SERVICE = "unknown_service"


@dataclass
class Refusal:
    item: int
    reason: str


@dataclass
class Mapped:
    """What one export request maps to.

    `events` are (item, table, event); `refusals` items refused before preparation. Items are
    numbered per request in the order they appear (spans, data points or log records)."""

    signal: str
    items: int = 0
    dropped: int = 0
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    _raw: list[Any] = field(default_factory=list, repr=False)

    def item(self, raw: Any) -> int:
        """Number the next item, `raw` its protobuf message (kept for `raw_of`)."""
        self._raw.append(raw)
        self.items = len(self._raw)
        return self.items - 1

    def raw_of(self, item: int) -> Any:
        """Item -> its OTLP/JSON object, for rejects (computed only for refused items)."""
        return raw_json(self._raw[item])


def _scoped(
    groups: Iterable[Any], scopes: str, records: str
) -> Iterator[tuple[Resource, Any, Any]]:
    """(resource, scope, record) for each record of an export request's resource groups,
    e.g. `_scoped(request.resource_spans, "scope_spans", "spans")`."""
    for group in groups:
        resource = Resource.of(group.resource)
        for scope in getattr(group, scopes):
            for record in getattr(scope, records):
                yield resource, scope, record


# --------------------------------------------------------------------------- values


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a Python value (bytes as base64 text, kvlists as dicts)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    """A repeated KeyValue field as a dict (the last of repeated keys wins, as in the SDKs)."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def nanos_to_datetime(nanos: int) -> dt.datetime:
    """Unix nanoseconds -> an aware UTC datetime (microsecond precision)."""
    return _EPOCH + dt.timedelta(microseconds=nanos // 1000)


def hex_id(raw: bytes, size: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex; None when absent or invalid."""
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def _text(value: Any) -> str | None:
    """An attribute as text: strings as they are, other scalars and structures as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def fit(table: str, column: str, value: Any) -> str | None:
    """`value` as the text of a label column of `table` (None when it has none).

    A label longer than its column is not cut here: `ingest.events.prepare` cuts it with its
    marker and keeps the original on the row, as on every other ingest path."""
    if type(value) is str:
        return value  # the common case, without a call
    return _text(value)


def _ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def _json_value(value: Any) -> Any:
    """Arguments/results as sent: a JSON text is parsed, anything else kept as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _first(value: Any) -> Any:
    # Captured HTTP headers are string arrays (http.request.header.<name>).
    if isinstance(value, list):
        return value[0] if value else None
    return value


# --------------------------------------------------------------------------- resource


@dataclass(frozen=True)
class Resource:
    service: str
    version: str | None
    environment: str | None
    instance: str | None

    @classmethod
    def of(cls, resource: Any) -> Resource:
        attrs = resolve(attributes(resource.attributes), "resource")
        service = _text(attrs.get("service.name")) or UNKNOWN_SERVICE
        return cls(
            service=service if service.strip() else UNKNOWN_SERVICE,
            version=_text(attrs.get("service.version")),
            environment=_text(attrs.get("deployment.environment.name")),
            instance=_text(attrs.get("service.instance.id")),
        )


# --------------------------------------------------------------------------- traces


def map_traces(request: Message) -> Mapped:
    """ExportTraceServiceRequest -> events and refusals."""
    out = Mapped("traces")
    for resource, _, span in _scoped(request.resource_spans, "scope_spans", "spans"):
        _map_span(out, out.item(span), span, resource)
    return out


def _span_refusal(span: Any) -> str | None:
    """Why a span cannot be stored as sent, or None."""
    if hex_id(span.trace_id, 16) is None or hex_id(span.span_id, 8) is None:
        return "span has no valid trace_id (16 bytes) or span_id (8 bytes)"
    if span.start_time_unix_nano == 0 or span.end_time_unix_nano == 0:
        return "span has no start or end time"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "span ends before it starts"
    return None


@dataclass
class _Span:
    """What the events of one span share."""

    span: Any
    attrs: dict[str, Any]
    resource: Resource
    trace_id: str
    span_id: str
    started: dt.datetime
    duration_ms: float
    failed: bool
    error_type: Any

    @property
    def execution_id(self) -> str:
        return f"{self.trace_id}-{self.span_id}"


def _map_span(out: Mapped, item: int, span: Any, resource: Resource) -> None:
    attrs = resolve_span(span.name, attributes(span.attributes))
    method = attrs.get("mcp.method.name")
    is_operation = isinstance(method, str) and method != "" and span.kind in _OPERATION_KINDS
    is_http = span.kind == KIND_SERVER and attrs.get("http.request.method") is not None
    exceptions = [e for e in span.events if e.name == "exception"]
    if not (is_operation or is_http or exceptions):
        out.dropped += 1
        return
    refusal = _span_refusal(span)
    if refusal is not None:
        out.refusals.append(Refusal(item, refusal))
        return
    failed = span.status.code == STATUS_ERROR or attrs.get("error.type") is not None
    error_type = attrs.get("error.type")
    if error_type is None and failed:
        error_type = attrs.get("rpc.status_code")
    s = _Span(
        span=span,
        attrs=attrs,
        resource=resource,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        started=nanos_to_datetime(span.start_time_unix_nano),
        duration_ms=(span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
        failed=failed,
        error_type=error_type,
    )
    tool_event = (
        _tool_event(s, method, exceptions) if is_operation and isinstance(method, str) else None
    )
    if tool_event is not None:
        out.events.append((item, "tool_usage_logs", tool_event))
    if is_http:
        http_event = _http_event(s)
        if http_event is None:
            out.refusals.append(Refusal(item, "HTTP server span has no http.response.status_code"))
            return
        out.events.append((item, "mcp_request_logs", http_event))
    for event in exceptions:
        out.events.append((item, "error_logs", _exception_event(event, s, tool_event)))


def _stack(exceptions: list[Any]) -> str | None:
    for event in exceptions:
        ev = attributes(event.attributes)
        if ev.get("exception.stacktrace") is not None:
            return _text(ev["exception.stacktrace"])
    return None


def _exception_message(exceptions: list[Any]) -> str | None:
    """The first exception event's message: an isError span's status has none (the SDK sets
    only error.type = tool_error), while the instrumentation records the raised exception."""
    for event in exceptions:
        message = _text(attributes(event.attributes).get("exception.message"))
        if message:
            return message
    return None


def _tool_event(s: _Span, method: str, exceptions: list[Any]) -> dict[str, Any]:
    attrs, t = s.attrs, "tool_usage_logs"
    target = (
        attrs.get("gen_ai.tool.name")
        or attrs.get("gen_ai.prompt.name")
        or attrs.get("mcp.resource.uri")
        or method
    )
    event = {
        "execution_id": s.execution_id,
        "bcp_name": fit(t, "bcp_name", s.resource.service),
        "tool_name": fit(t, "tool_name", target),
        "operation": fit(t, "operation", method),
        "duration_ms": s.duration_ms,
        "success": not s.failed,
        "error_code": fit(t, "error_code", s.error_type),
        "error_message": s.span.status.message or _exception_message(exceptions),
        "error_stack": _stack(exceptions),
        "request_id": fit(t, "request_id", attrs.get("jsonrpc.request.id")),
        "session_id": fit(t, "session_id", attrs.get("mcp.session.id")),
        "tool_version": fit(t, "tool_version", s.resource.version),
        "parameters": _json_value(attrs.get("gen_ai.tool.call.arguments")),
        "response_data": _json_value(attrs.get("gen_ai.tool.call.result")),
        "ip_address": _ip(attrs.get("client.address")),
        "user_agent": _text(attrs.get("user_agent.original")),
        "client_name": fit(t, "client_name", attrs.get("mcp.client.name")),
        "client_version": fit(t, "client_version", attrs.get("mcp.client.version")),
        "protocol_version": fit(t, "protocol_version", attrs.get("mcp.protocol.version")),
        "transport": fit(t, "transport", attrs.get("network.transport")),
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": hex_id(s.span.parent_span_id, 8),
        "timestamp": s.started,
    }
    if s.failed and event["error_message"] is None:
        event["error_message"] = _result_text(event["response_data"])
    return event


def _result_text(result: Any) -> str | None:
    """The text blocks of an isError result (captured as gen_ai.tool.call.result), as the
    collector stores them for the same call; None when the result was not captured."""
    if not isinstance(result, dict) or result.get("isError") is not True:
        return None
    texts = [
        block["text"]
        for block in result.get("content") or ()
        if isinstance(block, dict) and isinstance(block.get("text"), str)
    ]
    return "\n".join(texts) or None


def _http_event(s: _Span) -> dict[str, Any] | None:
    attrs, r = s.attrs, "mcp_request_logs"
    status = _int(attrs.get("http.response.status_code"))
    if status is None:
        return None
    path, query = _path_and_query(attrs)
    session = attrs.get("mcp.session.id") or _first(attrs.get("http.request.header.mcp-session-id"))
    return {
        "request_id": s.execution_id,
        "method": fit(r, "method", attrs.get("http.request.method")),
        "path": path,
        "query_params": query,
        "response_status_code": status,
        "duration_ms": s.duration_ms,
        "success": status < 400 and s.span.status.code != STATUS_ERROR,
        "error_type": fit(r, "error_type", s.error_type),
        "session_id": fit(r, "session_id", session),
        "user_agent": _text(attrs.get("user_agent.original")),
        "ip_address": _ip(attrs.get("client.address")),
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "timestamp": s.started,
    }


def _path_and_query(attrs: dict[str, Any]) -> tuple[str, Any]:
    path = _text(attrs.get("url.path")) or "/"
    query = _text(attrs.get("url.query"))
    if query is None and "?" in path:
        path, query = path.split("?", 1)
    if not query:
        return path or "/", None
    return path or "/", {k: v if len(v) > 1 else v[0] for k, v in parse_qs(query).items()}


def _exception_event(event: Any, s: _Span, tool_event: dict[str, Any] | None) -> dict[str, Any]:
    ev = attributes(event.attributes)
    kind = _text(ev.get("exception.type"))
    message = _text(ev.get("exception.message")) or kind or "exception"
    context = {k: v for k, v in ev.items() if k not in _EXCEPTION_TEXTS}
    context.update(
        {
            "span.name": s.span.name,
            "trace_id": s.trace_id,
            "span_id": s.span_id,
            "service.name": s.resource.service,
        }
    )
    e = "error_logs"
    return {
        "level": "error",
        "message": message,
        "stack_trace": _text(ev.get("exception.stacktrace")),
        "error_code": fit(e, "error_code", kind),
        "context": context,
        "tool_context": (
            {k: tool_event[k] for k in ("bcp_name", "tool_name", "operation")}
            if tool_event
            else None
        ),
        "request_id": fit(e, "request_id", s.attrs.get("jsonrpc.request.id")),
        "execution_id": s.execution_id,
        "session_id": fit(e, "session_id", s.attrs.get("mcp.session.id")),
        "timestamp": nanos_to_datetime(event.time_unix_nano) if event.time_unix_nano else s.started,
        "category": "exception",
        "severity": 4,
        "environment": fit(e, "environment", s.resource.environment),
        "service_version": fit(e, "service_version", s.resource.version),
    }


_EXCEPTION_TEXTS = ("exception.message", "exception.stacktrace")


# --------------------------------------------------------------------------- logs


def map_logs(request: Message, now: Callable[[], dt.datetime] | None = None) -> Mapped:
    """ExportLogsServiceRequest -> error_logs events for records of severity ERROR and above."""
    out = Mapped("logs")
    for resource, scope, record in _scoped(request.resource_logs, "scope_logs", "log_records"):
        _map_log(out, out.item(record), record, resource, scope.scope.name, now)
    return out


def _is_error_record(record: Any) -> bool:
    if record.severity_number:
        return record.severity_number >= SEVERITY_ERROR
    return record.severity_text.strip().upper() in _ERROR_TEXTS


def _map_log(
    out: Mapped,
    item: int,
    record: Any,
    resource: Resource,
    scope: str,
    now: Callable[[], dt.datetime] | None,
) -> None:
    if not _is_error_record(record):
        out.dropped += 1
        return
    attrs = resolve(attributes(record.attributes))
    fatal = record.severity_number >= SEVERITY_FATAL or record.severity_text.strip().upper() in (
        "FATAL",
        "CRITICAL",
        "CRIT",
        "ALERT",
        "EMERGENCY",
        "EMERG",
    )
    body = any_value(record.body) if record.HasField("body") else None
    message = (
        _text(body)
        or _text(attrs.get("exception.message"))
        or _text(attrs.get("event.name"))
        or "(empty log record)"
    )
    trace_id = hex_id(record.trace_id, 16)
    span_id = hex_id(record.span_id, 8)
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    timestamp = nanos_to_datetime(nanos) if nanos else (now or _utcnow)()
    context = {k: v for k, v in attrs.items() if k not in ("exception.stacktrace",)}
    context.update(
        {
            "severity_text": record.severity_text,
            "severity_number": record.severity_number,
            "scope": scope,
            "service.name": resource.service,
        }
    )
    if trace_id:
        context["trace_id"] = trace_id
    if span_id:
        context["span_id"] = span_id
    e = "error_logs"
    event = {
        "level": "fatal" if fatal else "error",
        "message": message,
        "stack_trace": _text(attrs.get("exception.stacktrace")),
        "error_code": fit(e, "error_code", attrs.get("exception.type") or attrs.get("error.type")),
        "context": context,
        "request_id": fit(e, "request_id", attrs.get("jsonrpc.request.id")),
        "execution_id": f"{trace_id}-{span_id}" if trace_id and span_id else None,
        "session_id": fit(e, "session_id", attrs.get("mcp.session.id")),
        "timestamp": timestamp,
        "category": "log",
        "severity": 5 if fatal else 4,
        "environment": fit(e, "environment", resource.environment),
        "service_version": fit(e, "service_version", resource.version),
    }
    out.events.append((item, e, event))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


# --------------------------------------------------------------------------- metrics


def map_metrics(request: Message) -> Mapped:
    """ExportMetricsServiceRequest -> performance_metrics events, one per data point."""
    out = Mapped("metrics")
    for resource, _, metric in _scoped(request.resource_metrics, "scope_metrics", "metrics"):
        kind = metric.WhichOneof("data")
        if kind is None:
            continue
        data = getattr(metric, kind)
        for point in data.data_points:
            _map_point(out, out.item(point), metric, kind, data, point, resource)
    return out


def _period(point: Any, temporality: str | None) -> str:
    if temporality != "delta" or not point.start_time_unix_nano:
        return "1m"
    window = (point.time_unix_nano - point.start_time_unix_nano) / 1e9
    for name, seconds in _PERIODS:
        if window <= seconds:
            return name
    return "1w"


def _map_point(
    out: Mapped, item: int, metric: Any, kind: str, data: Any, point: Any, resource: Resource
) -> None:
    if point.flags & _NO_RECORDED_VALUE:
        out.dropped += 1
        return
    if not point.time_unix_nano:
        out.refusals.append(Refusal(item, "data point has no time_unix_nano"))
        return
    labels = attributes(point.attributes)
    labels["service.name"] = resource.service
    if resource.instance:
        labels["service.instance.id"] = resource.instance
    temporality = _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0))
    m = "performance_metrics"
    event: dict[str, Any] = {
        "metric_name": fit(m, "metric_name", metric.name),
        "labels": labels,
        "timestamp": nanos_to_datetime(point.time_unix_nano),
        "start_timestamp": (
            nanos_to_datetime(point.start_time_unix_nano) if point.start_time_unix_nano else None
        ),
        "aggregation_period": _period(point, temporality),
        "temporality": temporality,
        "unit": fit(m, "unit", metric.unit or None),
        "service": fit(m, "service", resource.service),
        "environment": fit(m, "environment", resource.environment),
    }
    refusal = _point_values(event, kind, data, point)
    if refusal is not None:
        out.refusals.append(Refusal(item, refusal))
        return
    out.events.append((item, m, event))


def _point_values(event: dict[str, Any], kind: str, data: Any, point: Any) -> str | None:
    """Fill the value columns of a data point's event; returns a refusal reason or None."""
    if kind in ("gauge", "sum"):
        value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
        event["metric_value"] = value
        if kind == "gauge":
            event["measurement_type"] = "gauge"
        else:
            event["measurement_type"] = "counter" if data.is_monotonic else "updowncounter"
    elif kind == "histogram":
        counts = list(point.bucket_counts)
        bounds = list(point.explicit_bounds)
        if counts and len(counts) != len(bounds) + 1:
            return f"histogram has {len(counts)} bucket counts for {len(bounds)} bounds"
        if any(not math.isfinite(b) for b in bounds):
            return "histogram bounds must be finite numbers"
        _histogram(event, point, "histogram", bounds, counts)
    elif kind == "exponential_histogram":
        bounds, counts = _exponential_buckets(point)
        _histogram(event, point, "exponential_histogram", bounds, counts)
    elif kind == "summary":
        event["measurement_type"] = "summary"
        event["metric_value"] = point.sum / point.count if point.count else 0.0
        event["histogram_count"] = point.count
        event["histogram_sum"] = point.sum
    else:  # a data kind added to OTLP after this code
        return f"metric data of kind {kind} is not supported"
    return None


def _histogram(
    event: dict[str, Any], point: Any, kind: str, bounds: list[float], counts: list[int]
) -> None:
    has_sum = point.HasField("sum")
    event["measurement_type"] = kind
    event["metric_value"] = point.sum / point.count if point.count and has_sum else 0.0
    event["histogram_count"] = point.count
    event["histogram_sum"] = point.sum if has_sum else None
    event["histogram_min"] = point.min if point.HasField("min") else None
    event["histogram_max"] = point.max if point.HasField("max") else None
    event["histogram_bounds"] = bounds
    event["histogram_bucket_counts"] = counts


def _exponential_buckets(point: Any) -> tuple[list[float], list[int]]:
    """An exponential histogram as explicit buckets: bucket index i covers
    (base**i, base**(i+1)] with base = 2**(2**-scale); negative buckets mirror them and the
    zero bucket sits between. Returns upper bounds and counts, the last count above the last
    bound (as OTLP explicit histograms have it)."""
    base = 2.0 ** (2.0**-point.scale)
    bounds: list[float] = []
    counts: list[int] = []
    neg = point.negative
    for i in reversed(range(len(neg.bucket_counts))):
        # (-base**(index+1), -base**index]: the upper bound is -base**index.
        bounds.append(-(base ** (neg.offset + i)))
        counts.append(neg.bucket_counts[i])
    bounds.append(0.0)
    counts.append(point.zero_count)
    pos = point.positive
    for i in range(len(pos.bucket_counts)):
        counts.append(pos.bucket_counts[i])
        bounds.append(base ** (pos.offset + i + 1))
    # The last positive bucket's upper bound is a bound; nothing lies above it.
    counts.append(0)
    return bounds, counts


# --------------------------------------------------------------------------- raw text


def raw_json(message: Message) -> dict[str, Any]:
    """An OTLP item as its OTLP/JSON object (ids in hex), with attribute lists flattened to
    objects so that redaction sees each attribute's name: for the rejects table."""
    data = json_format.MessageToDict(message)
    return _flatten(data)


def _flatten(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(item, str):
                out[key] = base64.b64decode(item).hex()
            elif key == "attributes" and isinstance(item, list):
                out[key] = {
                    str(kv.get("key")): _json_any(kv.get("value", {}))
                    for kv in item
                    if isinstance(kv, dict)
                }
            else:
                out[key] = _flatten(item)
        return out
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    return value


def _json_any(value: Any) -> Any:
    """An AnyValue in its JSON form -> a plain value."""
    if not isinstance(value, dict) or not value:
        return None
    kind, item = next(iter(value.items()))
    if kind == "arrayValue":
        return [_json_any(v) for v in item.get("values", [])]
    if kind == "kvlistValue":
        return {str(kv.get("key")): _json_any(kv.get("value", {})) for kv in item.get("values", [])}
    return item


MAPPERS: dict[str, Callable[[Message], Mapped]] = {
    "traces": map_traces,
    "metrics": map_metrics,
    "logs": map_logs,
}

"""Decoding OTLP/HTTP request bodies into the official protobuf messages.

Protobuf bodies (`application/x-protobuf`) are parsed by `opentelemetry-proto`; JSON bodies
(`application/json`) by protobuf's own JSON mapping after the one difference OTLP/JSON makes
(trace and span ids are hex strings, not base64). Integer enums, 64-bit integers as strings or
numbers, and both lowerCamelCase and original field names are accepted, unknown fields ignored,
as the OTLP specification requires. gzip bodies are inflated with a cap on the inflated size.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its URL path, request and response messages, and item names."""

    name: str  # traces | metrics | logs
    path: str
    request: type[Message]
    response: type[Message]
    #: the partial-success field counting rejected items (rejected_spans, ...)
    rejected_field: str


SIGNALS = {
    "traces": Signal(
        "traces",
        "/v1/traces",
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
        "rejected_spans",
    ),
    "metrics": Signal(
        "metrics",
        "/v1/metrics",
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "logs": Signal(
        "logs",
        "/v1/logs",
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
        "rejected_log_records",
    ),
}


class BodyError(ValueError):
    """A body that cannot be decoded (answered 400); the message says what and where."""


class BodyTooLarge(ValueError):
    """A body, or its inflated form, above the receiver's limit (answered 413)."""


class UnsupportedMediaType(ValueError):
    """A content type other than protobuf or JSON (answered 415)."""


def media_type(content_type: str | None) -> str:
    """`application/x-protobuf` or `application/json` from a Content-Type header.

    Raises UnsupportedMediaType for anything else (parameters such as charset are ignored)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if base == JSON:
        return JSON
    shown = base or "none"
    raise UnsupportedMediaType(
        f"Content-Type {shown!r} is not supported: send application/x-protobuf or application/json"
    )


def inflate(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The body without its Content-Encoding (gzip, deflate or identity), at most `max_bytes`.

    Raises BodyError for a corrupt or truncated stream or an unknown encoding, BodyTooLarge when
    the inflated body would exceed `max_bytes` (inflation stops there: no gzip bomb)."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise BodyError(f"Content-Encoding {coding!r} is not supported: use gzip or none")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise BodyError(f"the {coding} body is corrupt: {err}") from None
    if len(out) > max_bytes:
        raise BodyTooLarge(f"the body inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise BodyError(f"the {coding} body is truncated (the stream ends early)")
    return out


def decode(signal: Signal, body: bytes, media: str) -> Message:
    """The export request in `body` as `signal.request`; raises BodyError when undecodable."""
    message = signal.request()
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (ProtobufDecodeError, RuntimeError, ValueError) as err:
            raise BodyError(f"not a valid OTLP protobuf {signal.request.__name__}: {err}") from None
        return message
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise BodyError(f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BodyError(f"the JSON body must be an object ({signal.request.__name__})")
    _hex_ids_to_base64(data)
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as err:
        raise BodyError(f"not a valid OTLP/JSON {signal.request.__name__}: {err}") from None
    return message


# Where ids live in each signal's JSON: container keys down to the objects that hold ids.
_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_DATA_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram")


def _children(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _id_holders(data: dict[str, Any]) -> list[Any]:
    """The objects of an OTLP/JSON request that carry trace or span ids."""
    holders: list[Any] = []
    for rs in _children(data, "resourceSpans", "resource_spans"):
        for ss in _children(rs, "scopeSpans", "scope_spans"):
            for span in _children(ss, "spans"):
                holders.append(span)
                holders.extend(_children(span, "links"))
    for rl in _children(data, "resourceLogs", "resource_logs"):
        for sl in _children(rl, "scopeLogs", "scope_logs"):
            holders.extend(_children(sl, "logRecords", "log_records"))
    for rm in _children(data, "resourceMetrics", "resource_metrics"):
        for sm in _children(rm, "scopeMetrics", "scope_metrics"):
            for metric in _children(sm, "metrics"):
                holders.extend(_exemplars(metric))
    return holders


def _exemplars(metric: Any) -> list[Any]:
    if not isinstance(metric, dict):
        return []
    return [
        exemplar
        for kind in _DATA_KINDS
        for point in _children(metric.get(kind), "dataPoints", "data_points")
        for exemplar in _children(point, "exemplars")
    ]


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping reads bytes as base64. An id that
    is not hex is left empty, so that its span is refused (with its reason) on its own."""
    for holder in _id_holders(data):
        if not isinstance(holder, dict):
            continue
        for key in _ID_KEYS:
            value = holder.get(key)
            if isinstance(value, str):
                holder[key] = _hex_to_base64(value)


def _hex_to_base64(value: str) -> str:
    try:
        raw = binascii.unhexlify(value.strip())
    except (binascii.Error, ValueError):
        return ""
    return base64.b64encode(raw).decode("ascii")

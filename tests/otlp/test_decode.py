"""Decoding OTLP/HTTP bodies: protobuf, the spec's JSON mapping, gzip; and awkward content."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from google.protobuf import json_format

from mcp_analytics.ingest.events import COLUMNS, CUT_MARK
from mcp_analytics.otlp.batch import prepare_mapped
from mcp_analytics.otlp.decode import (
    JSON,
    PROTOBUF,
    SIGNALS,
    BodyError,
    BodyTooLarge,
    UnsupportedMediaType,
    decode,
    inflate,
    media_type,
)
from mcp_analytics.otlp.mapping import map_logs, map_metrics, map_traces

from . import otlp_data as d

TRACES = SIGNALS["traces"]

# An OTLP/JSON export as the specification writes it (examples/trace.json in
# opentelemetry-proto): hex ids, integer enums, 64-bit integers as strings, lowerCamelCase.
SPEC_TRACE_JSON = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0"},
                    "spans": [
                        {
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "parentSpanId": "EEE19B7EC3C1B173",
                            "name": "tools/call get_weather",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "kind": 2,
                            "attributes": [
                                {"key": "mcp.method.name", "value": {"stringValue": "tools/call"}},
                                {
                                    "key": "gen_ai.tool.name",
                                    "value": {"stringValue": "get_weather"},
                                },
                                {"key": "jsonrpc.request.id", "value": {"intValue": "12"}},
                                {
                                    "key": "some.array",
                                    "value": {"arrayValue": {"values": [{"doubleValue": 1.5}]}},
                                },
                            ],
                            "status": {"code": 2, "message": "upstream timeout"},
                            "droppedAttributesCount": 0,
                            "aFieldFromTheFuture": {"x": 1},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_spec_json_body_maps_like_protobuf() -> None:
    message = decode(TRACES, json.dumps(SPEC_TRACE_JSON).encode(), JSON)
    rows = prepare_mapped(map_traces(message), source_name="t").rows["tool_usage_logs"]
    assert len(rows) == 1
    row = rows[0]
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["parent_span_id"] == "eee19b7ec3c1b173"
    assert row["bcp_name"] == "my.service"
    assert row["tool_name"] == "get_weather"
    assert row["request_id"] == "12"
    assert row["duration_ms"] == 1000
    assert row["success"] is False and row["error_message"] == "upstream timeout"
    assert row["timestamp"].isoformat() == "2018-12-13T14:51:00+00:00"
    # The same request sent as protobuf stores the same row.
    again = decode(TRACES, message.SerializeToString(), PROTOBUF)
    assert prepare_mapped(map_traces(again), source_name="t").rows["tool_usage_logs"] == rows


def test_json_enum_names_and_snake_case_fields_are_accepted() -> None:
    body = json.loads(json.dumps(SPEC_TRACE_JSON))
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["kind"] = "SPAN_KIND_SERVER"
    span["trace_id"] = span.pop("traceId")
    message = decode(TRACES, json.dumps(body).encode(), JSON)
    assert message.resource_spans[0].scope_spans[0].spans[0].kind == d.SERVER
    assert message.resource_spans[0].scope_spans[0].spans[0].trace_id.hex().startswith("5b8e")


def test_json_id_that_is_not_hex_refuses_only_its_span() -> None:
    body = json.loads(json.dumps(SPEC_TRACE_JSON))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(json.loads(json.dumps(spans[0])))
    spans[1]["spanId"] = "not-hex!"
    prepared = prepare_mapped(
        map_traces(decode(TRACES, json.dumps(body).encode(), JSON)), source_name="t"
    )
    assert prepared.rejected == 1 and len(prepared.rows["tool_usage_logs"]) == 1
    assert "span_id" in prepared.reasons[0]


def test_json_logs_and_metrics_from_the_spec_shape() -> None:
    logs_body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "severityNumber": 17,
                                "severityText": "Error",
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "body": {"stringValue": "Example log record"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    message = decode(SIGNALS["logs"], json.dumps(logs_body).encode(), JSON)
    row = prepare_mapped(map_logs(message), source_name="l").rows["error_logs"][0]
    assert row["message"] == "Example log record"
    assert row["execution_id"] == "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
    metrics_body = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "my.histogram",
                                "unit": "s",
                                "histogram": {
                                    "aggregationTemporality": 1,
                                    "dataPoints": [
                                        {
                                            "startTimeUnixNano": "1544712600000000000",
                                            "timeUnixNano": "1544712660000000000",
                                            "count": "3",
                                            "sum": 4.5,
                                            "bucketCounts": ["1", "2"],
                                            "explicitBounds": [1.0],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    message = decode(SIGNALS["metrics"], json.dumps(metrics_body).encode(), JSON)
    row = prepare_mapped(map_metrics(message), source_name="m").rows["performance_metrics"][0]
    assert row["histogram_count"] == "3" and row["histogram_bucket_counts"] == "[1,2]"
    assert row["aggregation_period"] == "1m" and row["temporality"] == "delta"
    assert row["metric_value"] == "1.5000"


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00garbage", b'{"resourceSpans": [{"resource": ', b"\x0a\x05\x0a\x03"],
    ids=["binary", "json-as-protobuf", "truncated-protobuf"],
)
def test_not_protobuf_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError, match="not a valid OTLP protobuf"):
        decode(TRACES, body, PROTOBUF)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"resourceSpans": 5}', b"\xff\xfe"], ids=str
)
def test_bad_json_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        decode(TRACES, body, JSON)


def test_gzip_is_inflated_and_truncated_gzip_refused() -> None:
    raw = d.traces(d.mcp_span()).SerializeToString()
    packed = gzip.compress(raw)
    assert inflate(packed, "gzip", 1 << 20) == raw
    with pytest.raises(BodyError, match="truncated"):
        inflate(packed[: len(packed) // 2], "gzip", 1 << 20)
    with pytest.raises(BodyError, match="corrupt"):
        inflate(b"\x1f\x8b\x08\x00garbage-garbage", "gzip", 1 << 20)
    with pytest.raises(BodyError, match="not supported"):
        inflate(packed, "br", 1 << 20)
    assert inflate(zlib.compress(raw), "deflate", 1 << 20) == raw


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))
    with pytest.raises(BodyTooLarge):
        inflate(bomb, "gzip", 1 << 20)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", PROTOBUF),
        ("application/protobuf", PROTOBUF),
        ("application/json; charset=utf-8", JSON),
        ("Application/JSON", JSON),
    ],
)
def test_media_types(header: str, expected: str) -> None:
    assert media_type(header) == expected


@pytest.mark.parametrize(
    "header", [None, "", "text/plain", "application/grpc", "multipart/form-data"]
)
def test_other_media_types_are_unsupported(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="application/x-protobuf or application/json"):
        media_type(header)


# -- awkward content ----------------------------------------------------------------------------


def _prepare(*spans):
    return prepare_mapped(map_traces(d.traces(*spans)), source_name="t")


def test_attributes_of_unexpected_types_are_stored_as_text_or_refused_with_a_reason() -> None:
    good = d.mcp_span(
        target=None,
        attrs={
            "gen_ai.tool.name": 12345,  # an int where a string is expected
            "jsonrpc.request.id": 7,
            "mcp.session.id": ["a", "b"],  # an array
            "mcp.client.name": {"nested": True},  # a map
            "client.address": "not-an-ip",  # kept out of the inet column, row kept
            "gen_ai.tool.call.arguments": b"\x00\x01",  # bytes
        },
    )
    bad_status = d.span(
        "POST /mcp",
        {"http.request.method": "POST", "url.path": "/mcp", "http.response.status_code": "teapot"},
    )
    prepared = _prepare(good, bad_status)
    row = prepared.rows["tool_usage_logs"][0]
    assert row["tool_name"] == "12345" and row["request_id"] == "7"
    assert row["session_id"] == '["a", "b"]' and row["client_name"] == '{"nested": true}'
    assert row["ip_address"] is None and row["parameters"] == '"AAE="'
    assert prepared.rejected == 1 and "http.response.status_code" in prepared.reasons[0]


def test_nul_characters_are_replaced_not_fatal() -> None:
    span = d.mcp_span(
        target="to\x00ol",
        attrs={"gen_ai.tool.call.arguments": {"q": "a\x00b"}, "mcp.session.id": "s\x00"},
        status=(d.ERROR, "bad\x00message"),
    )
    prepared = _prepare(span)
    assert prepared.rejected == 0
    row = prepared.rows["tool_usage_logs"][0]
    assert "\x00" not in row["tool_name"] and "\x00" not in row["error_message"]
    assert "\\u0000" not in row["parameters"] and "\x00" not in row["parameters"]


def test_ten_thousand_attributes() -> None:
    attrs = {f"custom.attr.{i}": i for i in range(10_000)}
    span = d.mcp_span(attrs=attrs)
    message = decode(TRACES, d.traces(span).SerializeToString(), PROTOBUF)
    prepared = prepare_mapped(map_traces(message), source_name="t")
    assert prepared.rejected == 0 and len(prepared.rows["tool_usage_logs"]) == 1


def test_labels_fit_or_are_cut_with_a_marker_and_the_original_kept() -> None:
    name = "t" * 128  # MCP allows 128-character tool names (060 widened the seed's 100)
    version = "1.4.2-17-g3f2a9c1-dirty"  # longer than the seed's 20
    long_path = "r" * 5000  # longer than any label column: cut by prepare, never by the mapper
    spans = [d.mcp_span(target=name), d.mcp_span(target=long_path)]
    prepared = prepare_mapped(
        map_traces(d.traces(*spans, res=d.resource(**{"service.version": version}))),
        source_name="t",
    )
    whole, cut = prepared.rows["tool_usage_logs"]
    assert whole["tool_name"] == name and whole["tool_version"] == version
    assert whole["original_values"] is None
    limit = COLUMNS["tool_usage_logs"]["tool_name"].max_length
    assert limit is not None and len(cut["tool_name"]) == limit and CUT_MARK in cut["tool_name"]
    originals = cut["original_values"]
    originals = json.loads(originals) if isinstance(originals, str) else originals
    assert originals["tool_name"] == long_path


def test_span_without_ids_or_ending_before_start_refused_others_kept() -> None:
    no_trace = d.mcp_span(trace_id=b"")
    no_span = d.mcp_span(span_id=b"\x00" * 8)
    backwards = d.mcp_span()
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1
    no_end = d.mcp_span()
    no_end.end_time_unix_nano = 0
    good = d.mcp_span()
    prepared = _prepare(no_trace, no_span, backwards, no_end, good)
    assert prepared.items == 5 and prepared.rejected == 4
    assert len(prepared.rows["tool_usage_logs"]) == 1
    assert [r.line_number for r in prepared.rejects] == [1, 2, 3, 4]
    assert all(r.source == "otlp" and r.raw for r in prepared.rejects)
    assert "ends before it starts" in prepared.rejects[2].reason
    assert "4 of 5 spans could not be stored" in prepared.message()


def test_rejected_raw_text_is_redacted() -> None:
    span = d.mcp_span(trace_id=b"", attrs={"api_key": "sk-live-123", "password": "hunter2"})
    prepared = _prepare(span)
    raw = prepared.rejects[0].raw
    assert "sk-live-123" not in raw and "hunter2" not in raw and "REDACTED" in raw


def test_non_operation_spans_are_counted_and_dropped() -> None:
    prepared = _prepare(
        d.span("SELECT users", {"db.system": "postgresql"}, kind=d.INTERNAL),
        d.mcp_span(kind=d.CLIENT),  # the caller's side of a call
        d.mcp_span(),
    )
    assert prepared.dropped == 2 and prepared.rejected == 0
    assert len(prepared.rows["tool_usage_logs"]) == 1


def test_exponential_histogram_keeps_its_buckets() -> None:
    from opentelemetry.proto.metrics.v1 import metrics_pb2

    metric = metrics_pb2.Metric(name="mcp.server.operation.duration", unit="s")
    metric.exponential_histogram.aggregation_temporality = 2
    point = metric.exponential_histogram.data_points.add()
    point.time_unix_nano = d.T0
    point.scale = 0  # base 2
    point.count, point.sum, point.zero_count = 6, 9.0, 1
    point.positive.offset = 0
    point.positive.bucket_counts.extend([2, 3])  # (1, 2] and (2, 4]
    row = prepare_mapped(map_metrics(d.metrics(metric)), source_name="m").rows[
        "performance_metrics"
    ][0]
    assert json.loads(row["histogram_bounds"]) == [0.0, 2.0, 4.0]
    assert json.loads(row["histogram_bucket_counts"]) == [1, 2, 3, 0]
    assert row["measurement_type"] == "exponential_histogram" and row["metric_value"] == "1.5000"


def test_histogram_with_inconsistent_buckets_is_refused() -> None:
    metric = d.histogram_metric(bounds=(1.0, 2.0), counts=(1, 2))
    prepared = prepare_mapped(map_metrics(d.metrics(metric)), source_name="m")
    assert prepared.rejected == 1 and "2 bucket counts for 2 bounds" in prepared.reasons[0]


def test_json_round_trip_of_sdk_request() -> None:
    # What the reference JSON exporter would send for the same spans.
    request = d.traces(d.mcp_span())
    body = json.loads(json_format.MessageToJson(request))
    for rs in body["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId"):
                    import base64

                    span[key] = base64.b64decode(span[key]).hex()
    again = decode(TRACES, json.dumps(body).encode(), JSON)
    assert again == request

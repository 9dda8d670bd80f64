"""The OTLP/HTTP receiver over real HTTP: every answer of docs/otlp.md, and nothing good lost."""

from __future__ import annotations

import gzip
import json
import threading

import psycopg
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from mcp_analytics.otlp.receiver import ReceiverConfig
from tests.helpers.collector import wait_for
from tests.helpers.db import scalar
from tests.helpers.otlp_receiver import running

from . import otlp_data as d

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url + path, data=body, headers=headers, timeout=30)


def rows(db: str, table: str = "tool_usage_logs") -> int:
    return scalar(db, f"select count(*) from {table}")


def test_sdk_exporter_spans_land_once_even_when_exported_twice(receiver, bootstrapped_db):
    exporter = OTLPSpanExporter(endpoint=receiver.url + "/v1/traces", compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "hubspot-crm"}))
    finished = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span):
            finished.append(span)

    provider.add_span_processor(Keep(exporter))
    tracer = provider.get_tracer("test")
    for i in range(5):
        attrs = {"mcp.method.name": "tools/call", "gen_ai.tool.name": f"tool{i}"}
        with tracer.start_as_current_span(
            f"tools/call tool{i}", kind=SpanKind.SERVER, attributes=attrs
        ):
            pass
    assert exporter.export(finished) == SpanExportResult.SUCCESS
    # A retried export (a timeout on the sender's side) is the same spans again.
    assert exporter.export(finished) == SpanExportResult.SUCCESS
    assert rows(bootstrapped_db) == 5
    stored = scalar(
        bootstrapped_db, "select array_agg(tool_name order by tool_name) from tool_usage_logs"
    )
    assert stored == [f"tool{i}" for i in range(5)]
    assert scalar(bootstrapped_db, "select count(distinct trace_id) from tool_usage_logs") == 5


def test_json_body_and_gzip(receiver, bootstrapped_db):
    from google.protobuf import json_format

    request = d.traces(d.mcp_span(), d.mcp_span())
    body = json.loads(json_format.MessageToJson(request))
    for span in body["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        import base64

        span["traceId"] = base64.b64decode(span["traceId"]).hex()
        span["spanId"] = base64.b64decode(span["spanId"]).hex()
    answer = post(
        receiver.url,
        "/v1/traces",
        gzip.compress(json.dumps(body).encode()),
        {**JS, "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/json"
    )
    assert answer.json() == {}
    assert rows(bootstrapped_db) == 2


def test_partial_success_names_the_rejects_and_keeps_the_good(receiver, bootstrapped_db):
    bad = d.mcp_span(trace_id=b"")
    request = d.traces(d.mcp_span(), bad, d.mcp_span(), d.span("internal", {}, kind=d.INTERNAL))
    answer = post(receiver.url, "/v1/traces", request.SerializeToString(), PB)
    assert answer.status_code == 200
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    assert "1 of 4 spans could not be stored" in response.partial_success.error_message
    assert "trace_id" in response.partial_success.error_message
    assert rows(bootstrapped_db) == 2
    reject = (
        psycopg.connect(bootstrapped_db, autocommit=True)
        .execute("select source, source_name, line_number, reason from ingest_rejects")
        .fetchall()
    )
    assert reject == [("otlp", "/v1/traces", 2, reject[0][3])] and "trace_id" in reject[0][3]
    health = requests.get(receiver.url + "/healthz", timeout=10).json()
    assert health["signals"]["traces"] == {"requests": 1, "items": 4, "dropped": 1, "rejected": 1}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"this is not protobuf at all \xff\xfe", PB, 400),
        (b'{"resourceSpans": [', JS, 400),
        (gzip.compress(b"x" * 1000)[:20], {**PB, "Content-Encoding": "gzip"}, 400),
        (b"x", {"Content-Type": "text/plain"}, 415),
        (b"x", {}, 415),
        (b"x", {**PB, "Content-Encoding": "br"}, 400),
    ],
    ids=["not-protobuf", "bad-json", "truncated-gzip", "text-plain", "no-type", "brotli"],
)
def test_bad_bodies_get_their_answer_and_store_nothing(
    receiver, bootstrapped_db, body, headers, status
):
    answer = post(receiver.url, "/v1/traces", body, headers)
    assert answer.status_code == status
    if status == 400:
        error = status_pb2.Status()
        if headers.get("Content-Type") == "application/json":
            error.message = answer.json()["message"]
        else:
            error.ParseFromString(answer.content)
        assert error.message
    assert rows(bootstrapped_db) == 0
    # A good export right after is stored: nothing about the bad one stuck.
    good = post(receiver.url, "/v1/traces", d.traces(d.mcp_span()).SerializeToString(), PB)
    assert good.status_code == 200 and rows(bootstrapped_db) == 1


def test_oversized_bodies_get_413(bootstrapped_db, tmp_path):
    config = ReceiverConfig(max_body_bytes=50_000)
    with running(bootstrapped_db, tmp_path / "spool", config) as r:
        big = d.traces(*[d.mcp_span() for _ in range(600)]).SerializeToString()
        assert len(big) > 50_000
        assert post(r.url, "/v1/traces", big, PB).status_code == 413
        # Chunked (no Content-Length): cut off while reading.
        chunks = (big[i : i + 8192] for i in range(0, len(big), 8192))
        assert (
            requests.post(r.url + "/v1/traces", data=chunks, headers=PB, timeout=30).status_code
            == 413
        )
        # Small on the wire, too big once inflated.
        bomb = gzip.compress(big)
        assert len(bomb) < 50_000
        assert (
            post(r.url, "/v1/traces", bomb, {**PB, "Content-Encoding": "gzip"}).status_code == 413
        )
        assert rows(bootstrapped_db) == 0
        small = d.traces(d.mcp_span()).SerializeToString()
        assert post(r.url, "/v1/traces", small, PB).status_code == 200


def test_overload_is_refused_with_retry_after_and_nothing_acknowledged_is_lost(
    bootstrapped_db, tmp_path
):
    config = ReceiverConfig(max_queued_rows=40, retry_after_s=3)
    with running(bootstrapped_db, tmp_path / "spool", config) as r:
        # The database stalls: an exclusive lock holds the writer's insert.
        blocker = psycopg.connect(bootstrapped_db)
        blocker.execute("lock table tool_usage_logs in access exclusive mode")
        answers: list[tuple[int, str | None, list[bytes]]] = []

        def send(n: int) -> None:
            spans = [d.mcp_span() for _ in range(20)]
            a = post(r.url, "/v1/traces", d.traces(*spans).SerializeToString(), PB)
            answers.append(
                (a.status_code, a.headers.get("retry-after"), [s.span_id for s in spans])
            )

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        assert wait_for(lambda: sum(1 for a in answers if a[0] == 429) >= 1, timeout=20)
        blocker.rollback()
        blocker.close()
        for t in threads:
            t.join(30)
    refused = [a for a in answers if a[0] == 429]
    accepted = [a for a in answers if a[0] == 200]
    assert refused and accepted and len(refused) + len(accepted) == 8
    assert all(a[1] == "3" for a in refused)
    # Every span answered 200 is stored; none of the refused ones is.
    stored = {
        row[0]
        for row in psycopg.connect(bootstrapped_db).execute("select span_id from tool_usage_logs")
    }
    assert stored == {sid.hex() for a in accepted for sid in a[2]}


def test_metrics_and_logs_endpoints(receiver, bootstrapped_db):
    m = post(
        receiver.url,
        "/v1/metrics",
        d.metrics(d.histogram_metric(), d.gauge_metric()).SerializeToString(),
        PB,
    )
    assert m.status_code == 200
    lg = post(
        receiver.url,
        "/v1/logs",
        d.logs(d.log_record(), d.log_record(severity=9, text="INFO")).SerializeToString(),
        PB,
    )
    assert lg.status_code == 200
    assert rows(bootstrapped_db, "performance_metrics") == 2
    assert rows(bootstrapped_db, "error_logs") == 1
    counts = scalar(
        bootstrapped_db,
        "select histogram_bucket_counts from performance_metrics"
        " where measurement_type = 'histogram'",
    )
    assert counts[:3] == [1, 2, 3]

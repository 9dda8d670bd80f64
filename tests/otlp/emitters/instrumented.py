"""An SDK-v2 server instrumented with `mcp_analytics.collector.mcp_sdk.instrument`, sending
either OTLP spans to a receiver or rows through a collector (with the SDK's tracing on).

    python -m tests.otlp.emitters.instrumented otlp ENDPOINT SERVICE MODE
    python -m tests.otlp.emitters.instrumented collector DATABASE_URL SERVICE MODE SPOOL_DIR
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from mcp_analytics.collector import Collector
from mcp_analytics.collector.mcp_sdk import instrument
from tests.helpers.mcp_servers import demo_server
from tests.otlp.emitters.sdk_v2 import calls


def main() -> None:
    kind, target, service, mode = sys.argv[1:5]
    server = demo_server(service, "2.0.1")
    if kind == "otlp":
        instrument(server, otlp_endpoint=target, capture_content=True)
        seen = asyncio.run(calls(server, mode))
        trace.get_tracer_provider().shutdown()  # flushes the batch processor
    else:
        # The application traces with the SDK (any exporter); the collector writes the rows.
        trace.set_tracer_provider(
            TracerProvider(resource=Resource.create({"service.name": service}))
        )
        with Collector(target, spool_dir=sys.argv[5]) as collector:
            instrument(server, collector)
            seen = asyncio.run(calls(server, mode))
            assert collector.flush(timeout=60)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

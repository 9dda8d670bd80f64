"""An SDK-v2 server instrumented with `mcp_analytics.collector.mcp_sdk.instrument`, sending
either OTLP spans to a receiver or rows through a collector (with the SDK's tracing on).

    python -m tests.otlp.emitters.instrumented otlp ENDPOINT SERVICE MODE
    python -m tests.otlp.emitters.instrumented collector DATABASE_URL SERVICE MODE SPOOL_DIR

With the environment variable EMIT_CALLS=errors, only the failing calls are made: a raising
tool, arguments that fail validation and an isError result.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from mcp import Client
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from mcp_analytics.collector import Collector
from mcp_analytics.collector.mcp_sdk import instrument
from tests.helpers.mcp_servers import demo_server
from tests.otlp.emitters.sdk_v2 import CLIENT
from tests.otlp.emitters.sdk_v2 import calls as all_calls


async def error_calls(server: MCPServer, mode: str) -> dict[str, object]:
    """The three failures, each answered with an isError result: raise, bad arguments, isError."""
    async with Client(server, client_info=CLIENT, mode=mode) as client:
        return {
            "explode": (await client.call_tool("explode", {})).is_error,
            "add": (await client.call_tool("add", {"a": "x", "b": 3})).is_error,
            "refuse": (await client.call_tool("refuse", {"reason": "quota"})).is_error,
        }


def main() -> None:
    kind, target, service, mode = sys.argv[1:5]
    calls = error_calls if os.environ.get("EMIT_CALLS") == "errors" else all_calls
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

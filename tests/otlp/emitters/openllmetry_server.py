"""A second emitter nobody here wrote: OpenLLMetry's `opentelemetry-instrumentation-mcp`
(Traceloop) on an MCP SDK 1.x FastMCP server and client, exporting with the OTLP/HTTP
protobuf exporter, serving the test servers' shared handlers (tests/helpers/mcp_handlers.py).
Runs in its own environment (openllmetry-requirements.txt), from the repository's root:

    python -m tests.otlp.emitters.openllmetry_server ENDPOINT SERVICE
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.mcp import McpInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.helpers.mcp_handlers import register


def main() -> None:
    endpoint, service = sys.argv[1:3]
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    McpInstrumentor().instrument()

    from mcp.server.fastmcp import FastMCP
    from mcp.shared.memory import create_connected_server_and_client_session

    server = FastMCP(service)
    register(server)

    async def calls() -> dict[str, object]:
        seen: dict[str, object] = {}
        async with create_connected_server_and_client_session(server._mcp_server) as client:
            seen["add"] = (await client.call_tool("add", {"a": 2, "b": 3})).isError
            seen["explode"] = (await client.call_tool("explode", {})).isError
            seen["missing"] = (await client.call_tool("no_such_tool", {})).isError
            seen["prompt"] = len((await client.get_prompt("greet", {"name": "Ada"})).messages)
            seen["resource"] = len((await client.read_resource("notes://today")).contents)
            seen["tools"] = len((await client.list_tools()).tools)
        return seen

    seen = asyncio.run(calls())
    provider.force_flush()
    provider.shutdown()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

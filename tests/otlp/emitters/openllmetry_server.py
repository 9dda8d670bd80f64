"""A second emitter nobody here wrote: OpenLLMetry's `opentelemetry-instrumentation-mcp`
(Traceloop) on an MCP SDK 1.x FastMCP server and client, exporting with the OTLP/HTTP
protobuf exporter. Runs in its own environment (openllmetry-requirements.txt).

    python openllmetry_server.py ENDPOINT SERVICE
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

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    def explode() -> str:
        raise RuntimeError("the upstream API is down")

    @server.prompt()
    def greet(name: str) -> str:
        return f"Say hello to {name}."

    @server.resource("notes://today")
    def today() -> str:
        return "nothing planned"

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

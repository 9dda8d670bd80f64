"""A real MCP server built with the official SDK v2 (`MCPServer`), traced by the SDK's own
OpenTelemetry middleware and exported with `opentelemetry-sdk` and the OTLP/HTTP protobuf
exporter, as a server owner would set it up. A real client calls it in process.

    python -m tests.otlp.emitters.sdk_v2 ENDPOINT SERVICE MODE

ENDPOINT is the receiver's base URL, MODE the client's protocol mode (legacy: the
initialize handshake; auto: the stateless 2026-07-28 revision where the peer allows it).
Prints one JSON line: what the client saw of each call.
"""

from __future__ import annotations

import asyncio
import json
import sys

import mcp_types as types
from mcp import Client
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.helpers.mcp_servers import demo_server

CLIENT = types.Implementation(name="e2e-client", version="4.5.6")


async def calls(server: MCPServer, mode: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    async with Client(server, client_info=CLIENT, mode=mode) as client:
        seen["add"] = (await client.call_tool("add", {"a": 2, "b": 3})).is_error
        seen["refuse"] = (await client.call_tool("refuse", {"reason": "quota"})).is_error
        seen["explode"] = (await client.call_tool("explode", {})).is_error
        try:
            seen["missing"] = (await client.call_tool("no_such_tool", {})).is_error
        except Exception as err:  # noqa: BLE001 - the SDK may raise for an unknown tool
            seen["missing"] = f"raised {type(err).__name__}"
        seen["prompt"] = len((await client.get_prompt("greet", {"name": "Ada"})).messages)
        seen["resource"] = len((await client.read_resource("notes://today")).contents)
        seen["tools"] = len((await client.list_tools()).tools)
    return seen


def main() -> None:
    endpoint, service, mode = sys.argv[1:4]
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": "2.0.1"})
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    seen = asyncio.run(calls(demo_server(service, "2.0.1"), mode))
    provider.force_flush()
    provider.shutdown()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

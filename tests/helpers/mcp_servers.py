"""A small real MCP server (SDK v2 `MCPServer`) with one of each outcome, for the tests that
instrument or trace one."""

from __future__ import annotations

import time

import mcp_types as types
from mcp.server.mcpserver import MCPServer


def demo_server(name: str, version: str) -> MCPServer:
    """An `MCPServer` named `name` at `version` with tools `add` (a + b, taking about 5 ms),
    `refuse` (an isError result), `explode` (raises RuntimeError; its optional `api_token`
    argument is for redaction checks), prompt `greet` and resource `notes://today`."""
    server = MCPServer(name, version=version)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        time.sleep(0.005)  # a measurable duration
        return a + b

    @server.tool()
    def refuse(reason: str) -> types.CallToolResult:
        """Answer with an error result (isError), without raising."""
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"refused: {reason}")], is_error=True
        )

    @server.tool()
    def explode(api_token: str = "") -> str:
        """Raise: the SDK turns this into an isError result."""
        raise RuntimeError("the upstream API is down")

    @server.prompt()
    def greet(name: str) -> str:
        """A greeting prompt."""
        return f"Say hello to {name}."

    @server.resource("notes://today")
    def today() -> str:
        """Today's notes."""
        return "nothing planned"

    return server

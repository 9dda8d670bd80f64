"""A small real MCP server (SDK v2 `MCPServer`) with one of each outcome, for the tests that
instrument or trace one."""

from __future__ import annotations

import mcp_types as types
from mcp.server.mcpserver import MCPServer

from tests.helpers.mcp_handlers import register


def demo_server(name: str, version: str) -> MCPServer:
    """An `MCPServer` named `name` at `version` with tools `add` (a + b, taking about 5 ms),
    `refuse` (an isError result), `explode` (raises RuntimeError; its optional `api_token`
    argument is for redaction checks), prompt `greet` and resource `notes://today`."""
    server = MCPServer(name, version=version)
    register(server)

    @server.tool()
    def refuse(reason: str) -> types.CallToolResult:
        """Answer with an error result (isError), without raising."""
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"refused: {reason}")], is_error=True
        )

    return server

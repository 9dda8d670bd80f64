"""The test MCP servers' shared handlers as plain functions, without importing an MCP SDK, so
that a server built with SDK v2 (`MCPServer`, tests/helpers/mcp_servers.py) and one built with
SDK 1.x (`FastMCP`, the OpenLLMetry emitter in its own environment) answer alike."""

from __future__ import annotations

import time
from typing import Any


def add(a: int, b: int) -> int:
    """Add two numbers."""
    time.sleep(0.005)  # a measurable duration
    return a + b


def explode(api_token: str = "") -> str:
    """Raise: the SDK turns this into an isError result."""
    raise RuntimeError("the upstream API is down")


def greet(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}."


def today() -> str:
    """Today's notes."""
    return "nothing planned"


def register(server: Any) -> None:
    """Add tools `add` (a + b, taking about 5 ms) and `explode` (raises RuntimeError; its
    optional `api_token` argument is for redaction checks), prompt `greet` and resource
    `notes://today` to `server`: any MCP server object with the SDKs' decorator methods
    `tool()`, `prompt()` and `resource(uri)` (SDK v2 `MCPServer`, SDK 1.x `FastMCP`)."""
    server.tool()(add)
    server.tool()(explode)
    server.prompt()(greet)
    server.resource("notes://today")(today)

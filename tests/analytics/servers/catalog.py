"""A real MCP server (SDK v2 `MCPServer`) whose catalog the inventory tests read and change:
run in-process over Streamable HTTP (uvicorn on 127.0.0.1), or as a stdio server
(`python -m tests.analytics.servers.catalog [--changed]`)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

NAME = "catalog-server"


def build(version: str = "1.0.0", *, changed: bool = False) -> MCPServer:
    """Tools search (read-only), create_issue and, unless `changed`, legacy_export; a prompt;
    a resource and a resource template. `changed`: search has a new description and an extra
    argument, legacy_export is gone and archive is new."""
    server = MCPServer(NAME, version=version)

    if changed:

        @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
        def search(query: str, limit: int = 10) -> str:
            """Search issues by text, newest first."""
            return query[:limit]

        @server.tool()
        def archive(issue_id: int) -> str:
            """Archive an issue."""
            return str(issue_id)

    else:

        @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
        def search(query: str) -> str:
            """Search issues."""
            return query

        @server.tool()
        def legacy_export(fmt: str = "csv") -> str:
            """Export everything (deprecated)."""
            return fmt

    @server.tool()
    def create_issue(title: str, body: str = "") -> dict:
        """Create an issue."""
        return {"title": title, "body": body}

    @server.prompt()
    def triage(issue: str) -> str:
        """Triage an issue."""
        return f"Triage: {issue}"

    @server.resource("file:///readme.md")
    def readme() -> str:
        """The project's README."""
        return "# readme"

    @server.resource("issues://{issue_id}")
    def issue(issue_id: str) -> str:
        """One issue."""
        return issue_id

    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(server: MCPServer) -> Iterator[str]:
    """`server` over Streamable HTTP on 127.0.0.1 until the block ends; yields its URL."""
    port = free_port()
    app = server.streamable_http_app()
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, name="mcp-catalog", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the catalog server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        web.should_exit = True
        thread.join(15)


if __name__ == "__main__":
    build(changed="--changed" in sys.argv).run("stdio")

"""A real MCP server (SDK v2 `MCPServer`) whose catalog the inventory tests read and change:
run in-process over Streamable HTTP (uvicorn on 127.0.0.1), or as a stdio server
(`python -m tests.analytics.servers.catalog [--changed]`)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

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


@contextlib.contextmanager
def serving(server: MCPServer) -> Iterator[str]:
    """`server` over Streamable HTTP on 127.0.0.1 until the block ends; yields its URL."""
    # imported here: run by its path as a stdio server, this file has no `tests` package
    from tests.helpers.web import serving_app

    with serving_app(server.streamable_http_app(), name="mcp-catalog") as (port, _):
        yield f"http://127.0.0.1:{port}/mcp"


if __name__ == "__main__":
    build(changed="--changed" in sys.argv).run("stdio")

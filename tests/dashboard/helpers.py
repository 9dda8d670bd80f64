"""Helpers of the dashboard tests: the test users and signing in through the real form."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import psycopg
from mcp.server.mcpserver import MCPServer
from psycopg.abc import Params, QueryNoTemplate
from starlette.testclient import TestClient

from mcp_analytics.dashboard.marts import QUANTILES
from mcp_analytics.dashboard.windows import Window, parse_window
from tests.helpers import db

#: username -> (password, role)
USERS = {
    "reader": ("reader-password-1", "READ_ONLY"),
    "admin": ("admin-password-1", "ADMIN"),
    "root": ("root-password-1", "SUPER_ADMIN"),
}

#: The pages' quantiles of a group's merged latency histograms, as the SQL functions give them.
MERGED_QUANTILES = (
    "mart_hist_quantiles(mart_hist_merge(duration_histogram),"
    f" array[{', '.join(str(q) for q in QUANTILES)}])"
)

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token of a page's forms."""
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str):
    """GET /login, then POST the form with its token; returns the POST's response."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )


def inventory_server(name: str, description: str) -> MCPServer:
    """A real MCP server named `name` advertising tool_0 (its docstring is `description`),
    tool_1 and unused_tool: tool names the synthetic telemetry calls, and one it never calls."""
    server = MCPServer(name, version="1.0.0")

    @server.tool(name="tool_0", description=description)
    def tool_0(x: int) -> int:
        return x

    @server.tool(name="tool_1")
    def tool_1(text: str) -> str:
        """Echo the text."""
        return text

    @server.tool(name="unused_tool")
    def unused_tool() -> str:
        """Nobody calls this."""
        return "unused"

    return server


class _Tables(HTMLParser):
    """Cells (text) and attributes of each row of the page's tables with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[dict[str, str], list[str]]]] = {}
        self._table: str | None = None
        self._row: tuple[dict[str, str], list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "table" and "id" in found:
            self._table = found["id"]
            self.tables[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table and not self._in_head:
            self._row = (found, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row[1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> list[tuple[dict[str, str], list[str]]]:
    """(attributes of the <tr>, text of each cell) per body row of the table with `table_id`."""
    parser = _Tables()
    parser.feed(html)
    assert table_id in parser.tables, f"no table #{table_id} in the page"
    return parser.tables[table_id]


def keyed_rows(
    conn: psycopg.Connection, query: QueryNoTemplate, params: Params | None = None, key: int = 2
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The rows of `query` as a dict: the first `key` columns -> the other columns."""
    return {row[:key]: row[key:] for row in conn.execute(query, params)}


def mart_groups(
    url: str, window: Window | str, table: str, columns: str, *, key: int = 2, where: str = ""
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The groups of the mart analytics.`table` over `window` (a Window, or the key of one
    ending now, as a page's ?window= names it), read as the pages read them, as
    a dict (see `keyed_rows`): the first `key` of `columns` (a select list: the group's columns,
    then its aggregates) -> the aggregates.

    An hourly mart (table hourly_*) is read by its `hour` from the window's start, a daily one by
    its `day` from the day the window starts in; `where` (" and ...", no placeholders) narrows
    the rows; `key` 0 gives the window's one group, keyed (). Runs on a new autocommit
    connection to `url` (the analyst login).
    """
    if isinstance(window, str):
        window = parse_window({"window": window})
    if table.startswith("hourly_"):
        since = "hour >= %s and hour < %s"
    else:
        since = "day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s"
    # key 0: the whole window as one group
    group = ", ".join(str(n) for n in range(1, key + 1)) or "()"
    query = f"select {columns} from analytics.{table} where {since} {where} group by {group}"
    return {row[:key]: row[key:] for row in db.rows(url, query, (window.start, window.end))}

"""The MCP SDK round trip: a real `mcp` server and a real `mcp` client talk to each other in
process, the collector is attached with `instrument`, and the rows land in tool_usage_logs."""

from __future__ import annotations

import asyncio

import mcp_types as types
import psycopg
import pytest
from mcp import Client
from mcp.server import Server

from mcp_analytics.collector import Collector
from mcp_analytics.collector.mcp_sdk import CollectorMiddleware, instrument
from tests.helpers.mcp_servers import demo_server
from tests.helpers.web import serving_app

CLIENT = types.Implementation(name="roundtrip-client", version="9.8.7")
COLUMNS = (
    "tool_name, bcp_name, operation, parameters, response_data, success, error_message, "
    "error_code, error_stack, duration_ms, request_id, session_id, user_agent, tool_version, "
    "parameters_hash, response_size_bytes"
)


def _rows(url: str, bcp: str) -> dict[str, list[dict]]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            f"select {COLUMNS} from tool_usage_logs where bcp_name = %s order by id", (bcp,)
        )
        names = [d.name for d in cur.description]
        out: dict[str, list[dict]] = {}
        for row in cur.fetchall():
            record = dict(zip(names, row, strict=True))
            out.setdefault(record["tool_name"], []).append(record)
        return out


async def _call_all(server, mode: str) -> tuple[list, list]:
    async with Client(server, client_info=CLIENT, mode=mode) as client:
        ok = await client.call_tool("add", {"a": 2, "b": 3})
        refused = await client.call_tool("refuse", {"reason": "quota"})
        exploded = await client.call_tool("explode", {"api_token": "sk-live-secret-123"})
        return [ok, refused, exploded], []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_mcpserver_round_trip(bootstrapped_db, tmp_path, mode):
    bcp = f"roundtrip-{mode}"
    server = demo_server(bcp, "1.4.2")
    with Collector(bootstrapped_db, batch_size=1000, spool_dir=tmp_path) as collector:
        middleware = instrument(server, collector)
        assert isinstance(middleware, CollectorMiddleware)
        (ok, refused, exploded), _ = asyncio.run(_call_all(server, mode))
        assert collector.flush(timeout=30)
    # The instrumented calls behave exactly as they would without the collector.
    assert ok.is_error is False and ok.structured_content == {"result": 5}
    assert refused.is_error is True
    assert exploded.is_error is True

    rows = _rows(bootstrapped_db, bcp)
    assert sorted(rows) == ["add", "explode", "refuse"]
    add, refuse, explode = rows["add"][0], rows["refuse"][0], rows["explode"][0]

    assert add["success"] is True
    assert add["parameters"] == {"a": 2, "b": 3}
    assert add["response_data"]["structuredContent"] == {"result": 5}
    assert add["response_size_bytes"] > 0 and len(add["parameters_hash"]) == 64
    assert add["duration_ms"] >= 5
    assert add["operation"] == "tools/call"
    assert add["tool_version"] == "1.4.2"
    assert add["error_message"] is None and add["error_code"] is None

    # isError counts as a failure, with the result's text as the message.
    assert refuse["success"] is False
    assert refuse["error_code"] == "tool_error"
    assert refuse["error_message"] == "refused: quota"
    assert refuse["response_data"]["isError"] is True

    # A raising tool: a failure with the exception's type and its traceback.
    assert explode["success"] is False
    assert explode["error_code"] == "tool_error"
    assert "the upstream API is down" in explode["error_message"]
    assert "RuntimeError: the upstream API is down" in explode["error_stack"]
    # The collector redacted the secret argument before it reached the table.
    assert explode["parameters"]["api_token"] != "sk-live-secret-123"

    for row in (add, refuse, explode):
        assert row["bcp_name"] == bcp
        assert row["user_agent"] == "roundtrip-client/9.8.7"
        assert row["duration_ms"] is not None and row["duration_ms"] >= 0
        # In-memory transports have no session id; the request id is scoped to the connection.
        assert row["session_id"] is None
        assert row["request_id"] and "/" in row["request_id"]
    if mode == "legacy":
        # One connection: one scope, JSON-RPC ids in call order.
        scopes = {r["request_id"].rsplit("/", 1)[0] for r in (add, refuse, explode)}
        assert len(scopes) == 1
        ids = [int(r["request_id"].rsplit("/", 1)[1]) for r in (add, refuse, explode)]
        assert ids == sorted(ids) and len(set(ids)) == 3
    assert len({r["request_id"] for r in (add, refuse, explode)}) == 3


def test_lowlevel_server_exception_reaches_the_row(bootstrapped_db, tmp_path):
    """A low-level Server lets a raising handler become a JSON-RPC error: still recorded."""

    async def list_tools(ctx, params):
        return types.ListToolsResult(
            tools=[types.Tool(name="crash", input_schema={"type": "object"})]
        )

    async def call_tool(ctx, params):
        raise ValueError("no such customer")

    server = Server(
        "lowlevel-bcp", version="0.3.0", on_list_tools=list_tools, on_call_tool=call_tool
    )

    async def go():
        async with Client(server, client_info=CLIENT, mode="legacy") as client:
            with pytest.raises(Exception):  # noqa: B017 - the SDK's error type is not the point
                await client.call_tool("crash", {"customer": 7})

    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector, operation=lambda tool, args: f"call:{tool}")
        asyncio.run(go())
        assert collector.flush(timeout=30)
    (row,) = _rows(bootstrapped_db, "lowlevel-bcp")["crash"]
    assert row["success"] is False
    assert row["operation"] == "call:crash"
    assert row["parameters"] == {"customer": 7}
    assert "no such customer" in row["error_stack"]
    assert row["user_agent"] == "roundtrip-client/9.8.7"
    assert row["tool_version"] == "0.3.0"


def test_a_broken_collector_never_breaks_the_call():
    class Broken:
        def record_tool_call(self, **kwargs):
            raise RuntimeError("collector exploded")

    server = demo_server("broken-collector", "1.4.2")
    instrument(server, Broken())
    with pytest.raises(ValueError):
        instrument(server, Broken())  # twice would record every call twice

    async def go():
        async with Client(server, client_info=CLIENT, mode="legacy") as client:
            return await client.call_tool("add", {"a": 20, "b": 22})

    result = asyncio.run(go())
    assert result.is_error is False and result.structured_content == {"result": 42}


def test_streamable_http_records_the_session_id(bootstrapped_db, tmp_path):
    """Over Streamable HTTP (a real uvicorn server) the transport has a session id."""
    server = demo_server("http-bcp", "1.4.2")

    async def go(port: int):
        url = f"http://127.0.0.1:{port}/mcp"
        async with Client(url, client_info=CLIENT, mode="legacy") as client:
            first = await client.call_tool("add", {"a": 1, "b": 1})
            second = await client.call_tool("refuse", {"reason": "x"})
            return first, second

    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector)
        with serving_app(server.streamable_http_app(), name="mcp-demo") as (port, _):
            first, second = asyncio.run(go(port))
        assert collector.flush(timeout=30)
    assert first.structured_content == {"result": 2} and second.is_error is True

    rows = _rows(bootstrapped_db, "http-bcp")
    add, refuse = rows["add"][0], rows["refuse"][0]
    assert add["session_id"] and add["session_id"] == refuse["session_id"]
    assert add["request_id"].startswith(add["session_id"] + "/")
    assert add["user_agent"] == "roundtrip-client/9.8.7"
    assert add["success"] is True and refuse["success"] is False
    with psycopg.connect(bootstrapped_db) as conn:
        (ip,) = conn.execute(
            "select host(ip_address) from tool_usage_logs where bcp_name = 'http-bcp' limit 1"
        ).fetchone()
    assert ip == "127.0.0.1"

"""Overhead of the MCP SDK instrumentation on a tool call (in-process client and server)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import mcp_types as types
from mcp import Client
from mcp.server.mcpserver import MCPServer

from mcp_analytics.collector import Collector
from mcp_analytics.collector.mcp_sdk import instrument

from .common import count_rows, table, throwaway_db


def _server() -> MCPServer:
    server = MCPServer("bench-bcp", version="1.0.0")

    @server.tool()
    def echo(text: str, n: int = 0) -> str:
        """Return the text (the cheapest tool there is: the overhead is all that is left)."""
        return text

    return server


async def _calls(server: MCPServer, n: int) -> float:
    info = types.Implementation(name="bench-client", version="1.0")
    async with Client(server, client_info=info, mode="legacy") as client:
        for i in range(50):  # warm-up
            await client.call_tool("echo", {"text": "warm", "n": i})
        t0 = time.perf_counter()
        for i in range(n):
            await client.call_tool("echo", {"text": "hello", "n": i})
        return time.perf_counter() - t0


class _NullRecorder:
    """Takes the event and does nothing: isolates the middleware's own cost."""

    def record_tool_call(self, **_event: object) -> str:
        return ""


def run_mcp_sdk(calls: int, rounds: int = 3, say=print) -> str:
    """Median over `rounds` of alternating runs (a busy machine makes single runs noisy)."""
    times: dict[str, list[float]] = {"plain": [], "middleware": [], "collector": []}
    with throwaway_db() as url, tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            times["plain"].append(asyncio.run(_calls(_server(), calls)))
            server = _server()
            instrument(server, _NullRecorder())
            times["middleware"].append(asyncio.run(_calls(server, calls)))
            server = _server()
            with Collector(url, spool_dir=Path(tmp)) as collector:
                instrument(server, collector)
                times["collector"].append(asyncio.run(_calls(server, calls)))
                collector.flush(timeout=600)
            say(
                f"  round {r + 1}: "
                + ", ".join(f"{k} {v[-1] / calls * 1e6:,.0f} us" for k, v in times.items())
            )
        recorded = count_rows(url)
    expected = rounds * (calls + 50)
    if recorded != expected:
        raise RuntimeError(f"expected {expected} rows, found {recorded}")
    med = {k: statistics.median(v) / calls * 1e6 for k, v in times.items()}
    labels = {
        "plain": "plain MCPServer",
        "middleware": "middleware, recorder that does nothing",
        "collector": "middleware + Collector (writes every call)",
    }
    rows = [(labels[k], f"{med[k]:,.0f}", f"{med[k] / med['plain']:.2f}x") for k in med]
    return table(["server", "µs per tools/call (median)", "vs plain"], rows) + (
        f"\n\n{calls:,} calls per run, {rounds} alternating rounds, in-memory transport, "
        "client and server in one process, tool = echo; every collected call was written to "
        "tool_usage_logs (checked)."
    )

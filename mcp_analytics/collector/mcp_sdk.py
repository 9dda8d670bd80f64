"""Record every `tools/call` of a server built with the official MCP Python SDK (`mcp` 2.x).

    from mcp.server.mcpserver import MCPServer
    from mcp_analytics.collector import Collector
    from mcp_analytics.collector.mcp_sdk import instrument

    server = MCPServer("hubspot-crm", version="3.5.0")
    collector = Collector().start()
    instrument(server, collector)          # or Server (low level): the same call

`instrument` appends a `CollectorMiddleware` to the server's middleware chain (the SDK's
context-tier hook that wraps every inbound request). For each `tools/call` it measures the
call and hands one event to the collector, whose `record_tool_call` only queues it: the
database write happens on the collector's thread, and any failure while building the event is
logged and swallowed, so instrumentation can neither break nor noticeably slow a call.

Column mapping (tool_usage_logs), documented in docs/mcp-sdk.md:

    bcp_name       the server's name (or `bcp_name=`)
    tool_name      params.name
    operation      "tools/call", or `operation=` (a string or a function of tool and arguments)
    parameters     params.arguments (the collector redacts secrets and hashes them)
    response_data  the result as sent on the wire (the collector caps its size)
    success        false when the result has isError, or the call raised
    error_*        message / exception type or JSON-RPC code / traceback
    duration_ms    wall time of the call inside the server, in milliseconds
    request_id     "<session or connection id>/<JSON-RPC id>": JSON-RPC ids restart at each
                   connection, so the bare id would not identify a request
    session_id     the transport's session id (Streamable HTTP); NULL on stdio / in memory
    user_agent     "<clientInfo.name>/<clientInfo.version>" from the initialize handshake
                   (or the request envelope), else the HTTP User-Agent
    tool_version   the server's version (or `tool_version=`)
    ip_address     the HTTP peer address, when the transport is HTTP
    user_id        `user_id=` (a function of the request context), else NULL
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

OperationFn = Callable[[str, Mapping[str, Any] | None], str]
UserIdFn = Callable[[Any], int | None]


class _Recorder(Protocol):
    def record_tool_call(self, **kwargs: Any) -> str: ...


@dataclass
class _CallState:
    """Filled from inside the tool call (MCPServer converts exceptions into isError results,
    so the traceback has to be caught where it is raised)."""

    stack: str | None = None
    error_type: str | None = None
    message: str | None = None


_current_call: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "mcp_analytics_current_call", default=None
)
# Connections without a transport session get a stable id of their own (weakly keyed, so a
# closed connection's entry goes with it).
_connection_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class CollectorMiddleware:
    """`mcp` server middleware that records `tools/call` requests into a Collector."""

    def __init__(
        self,
        collector: _Recorder,
        *,
        bcp_name: str,
        tool_version: str | None = None,
        operation: str | OperationFn = "tools/call",
        user_id: UserIdFn | None = None,
    ) -> None:
        self.collector = collector
        self.bcp_name = bcp_name
        self.tool_version = tool_version or None
        self.operation = operation
        self.user_id = user_id

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if getattr(ctx, "method", None) != "tools/call":
            return await call_next(ctx)
        started_at = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        state = _CallState()
        token = _current_call.set(state)
        try:
            result = await call_next(ctx)
        except BaseException as exc:  # cancellations too: they are recorded, then re-raised
            self._record(ctx, started_at, t0, None, exc, state)
            raise
        finally:
            _current_call.reset(token)
        self._record(ctx, started_at, t0, result, None, state)
        return result

    # -- event ------------------------------------------------------------------------------

    def _record(
        self,
        ctx: Any,
        started_at: dt.datetime,
        t0: float,
        result: Any,
        exc: BaseException | None,
        state: _CallState,
    ) -> None:
        duration_ms = (time.perf_counter() - t0) * 1000.0
        try:
            params = ctx.params if isinstance(ctx.params, Mapping) else {}
            tool_name = params.get("name")
            tool_name = tool_name if isinstance(tool_name, str) and tool_name else "(missing)"
            arguments = params.get("arguments")
            arguments = arguments if isinstance(arguments, Mapping) else None
            event: dict[str, Any] = {
                "bcp_name": self.bcp_name,
                "tool_name": tool_name,
                "operation": self._operation(tool_name, arguments),
                "duration_ms": duration_ms,
                "parameters": dict(arguments) if arguments is not None else None,
                "timestamp": started_at,
                "tool_version": self.tool_version,
            }
            event.update(_request_identity(ctx))
            if self.user_id is not None:
                event["user_id"] = self.user_id(ctx)
            if exc is not None:
                event.update(_from_exception(exc))
            else:
                wire = _wire(result)
                event["response_data"] = wire
                failed = _is_error(result, wire)
                event["success"] = not failed
                if failed:
                    # The SDK shows the client a generic text for a crash; the cause is kept.
                    event["error_message"] = state.message or _error_text(wire)
                    event["error_code"] = state.error_type or "tool_error"
                    event["error_stack"] = state.stack
            self.collector.record_tool_call(**event)
        except Exception:  # telemetry must never break the call (logged with its traceback)
            log.warning("mcp-analytics: could not record a tools/call", exc_info=True)

    def _operation(self, tool: str, arguments: Mapping[str, Any] | None) -> str:
        if callable(self.operation):
            return str(self.operation(tool, arguments))
        return self.operation


def instrument(
    server: Any,
    collector: _Recorder,
    *,
    bcp_name: str | None = None,
    tool_version: str | None = None,
    operation: str | OperationFn = "tools/call",
    user_id: UserIdFn | None = None,
) -> CollectorMiddleware:
    """Attach `collector` to an `MCPServer` or a low-level `Server`; returns the middleware.

    Call it once, before the server runs. The middleware goes last in the chain (innermost,
    closest to the handler), so it times the tool itself and not the SDK's other middleware.
    """
    chain = getattr(server, "middleware", None)
    if not isinstance(chain, list):
        raise TypeError(f"{type(server).__name__} has no middleware list: not an mcp 2.x server")
    if any(isinstance(m, CollectorMiddleware) for m in chain):
        raise ValueError("this server is already instrumented")
    middleware = CollectorMiddleware(
        collector,
        bcp_name=bcp_name or getattr(server, "name", None) or "mcp-server",
        tool_version=tool_version or getattr(server, "version", None),
        operation=operation,
        user_id=user_id,
    )
    chain.append(middleware)
    _capture_tracebacks(server)
    return middleware


def _capture_tracebacks(server: Any) -> None:
    """MCPServer turns a raising tool into an isError result before middleware sees it; wrap
    its public `call_tool` so the traceback is kept for error_stack. Low-level servers let the
    exception reach the middleware, which formats it itself."""
    original = getattr(server, "call_tool", None)
    if original is None or getattr(original, "_mcp_analytics", False):
        return

    async def call_tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        except Exception as exc:
            state = _current_call.get()
            if state is not None:
                # The SDK wraps unexpected exceptions; the original one is the cause.
                root = exc.__cause__ if exc.__cause__ is not None else exc
                state.error_type = type(root).__name__
                state.message = str(root) or type(root).__name__
                state.stack = "".join(traceback.format_exception(root))
            raise

    call_tool._mcp_analytics = True  # type: ignore[attr-defined]
    server.call_tool = call_tool


# --------------------------------------------------------------------------- helpers


def _request_identity(ctx: Any) -> dict[str, Any]:
    session = getattr(ctx, "session", None)
    connection = getattr(session, "_connection", None)
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)

    session_id = getattr(connection, "session_id", None)
    if not session_id and headers is not None:
        session_id = headers.get("mcp-session-id")
    if session_id:
        scope = session_id
    elif connection is not None:
        scope = _connection_ids.get(connection)
        if scope is None:
            scope = _connection_ids[connection] = f"conn-{uuid.uuid4().hex[:16]}"
    else:
        scope = f"conn-{uuid.uuid4().hex[:16]}"
    request_id = getattr(ctx, "request_id", None)

    client = getattr(getattr(session, "client_params", None), "client_info", None)
    if client is not None and getattr(client, "name", None):
        user_agent = f"{client.name}/{client.version}" if client.version else client.name
    elif headers is not None:
        user_agent = headers.get("user-agent")
    else:
        user_agent = None

    peer = getattr(getattr(request, "client", None), "host", None)
    return {
        "session_id": session_id or None,
        "request_id": f"{scope}/{request_id}" if request_id is not None else None,
        "user_agent": user_agent,
        "ip_address": peer if _is_ip(peer) else None,
    }


def _is_ip(value: Any) -> bool:
    import ipaddress

    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _wire(result: Any) -> Any:
    """The result as the client receives it (JSON-ready)."""
    if result is None:
        return None
    dump = getattr(result, "model_dump", None)
    if dump is not None:
        return dump(mode="json", by_alias=True, exclude_none=True)
    return result


def _is_error(result: Any, wire: Any) -> bool:
    if getattr(result, "is_error", None) is True:
        return True
    return isinstance(wire, Mapping) and wire.get("isError") is True


def _error_text(wire: Any) -> str | None:
    if not isinstance(wire, Mapping):
        return None
    texts = [
        block.get("text")
        for block in wire.get("content") or ()
        if isinstance(block, Mapping) and isinstance(block.get("text"), str)
    ]
    return "\n".join(texts) or "tool returned isError"


def _from_exception(exc: BaseException) -> dict[str, Any]:
    error = getattr(exc, "error", None)  # mcp.shared.exceptions.MCPError carries ErrorData
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(exc) or type(exc).__name__
    return {
        "success": False,
        "error_message": message,
        "error_code": str(code) if code is not None else type(exc).__name__,
        "error_stack": "".join(traceback.format_exception(exc)),
        "response_data": None,
    }

"""Instrument a server built with the official MCP Python SDK (`mcp` 2.x): a thin layer over
the SDK's own OpenTelemetry tracing.

    from mcp.server.mcpserver import MCPServer
    from mcp_analytics.collector import Collector
    from mcp_analytics.collector.mcp_sdk import instrument

    server = MCPServer("hubspot-crm", version="3.5.0")
    instrument(server, Collector().start())                    # rows through the collector
    instrument(server, otlp_endpoint="http://127.0.0.1:4318")  # or spans to the OTLP receiver

The SDK wraps every inbound request in a SERVER span (`mcp.method.name`, `gen_ai.tool.name`,
`jsonrpc.request.id`, `mcp.protocol.version`, `error.type`). `instrument` appends a middleware
that runs inside that span and adds what the SDK leaves out: the client's name and version
(from the initialize handshake or, on the stateless 2026-07-28 revision, the request's
`_meta`), the transport session id, the transport and peer address, the resource URI of
`resources/read`, the exception of a raising tool (MCPServer turns it into an isError result
before any middleware sees it), and, when `capture_content` is on, the tool's arguments and
result (`gen_ai.tool.call.arguments` / `.result`). Whatever exports the SDK's spans (an OTLP
exporter pointed at `mcp-analytics otlp serve`) sends them enriched.

With a collector, each `tools/call` is also recorded as one `tool_usage_logs` row on the
collector's thread (never slowing or breaking the call), carrying the span's trace and span
ids; and the tools/list, prompts/list, resources/list and resources/templates/list results the
server serves are recorded into the tool inventory (`analytics.inventory`: the same
definitions and fingerprints as `mcp-analytics inventory snapshot`, under the server's own
name, source `instrumentation`, one kind per snapshot), when a list differs from the one last
recorded by this process or `inventory_refresh_s` after it. A paginated list (a cursor in the
request or the result) is not recorded: no page is the whole list. Column mapping
(docs/mcp-sdk.md):

    bcp_name       the server's name (or `bcp_name=`)
    tool_name      params.name
    operation      "tools/call", or `operation=` (a string or a function of tool and arguments)
    parameters     params.arguments (the collector redacts secrets and hashes them)
    response_data  the result as sent on the wire (the collector caps its size)
    success        false when the result has isError, or the call raised
    error_code     "tool_error" for an isError result (also when MCPServer made it from a
                   raising tool or rejected arguments, as the SDK's span says); the exception
                   type or JSON-RPC code when the call itself failed
    error_message  the raised exception's message, else the isError result's text
    error_stack    the raised exception's traceback (and an error_logs row with its type)
    duration_ms    wall time of the call inside the server, in milliseconds
    request_id     "<session or connection id>/<JSON-RPC id>": JSON-RPC ids restart at each
                   connection, so the bare id would not identify a request
    session_id     the transport's session id (Streamable HTTP); NULL on stdio / in memory
    user_agent     "<clientInfo.name>/<clientInfo.version>" from the initialize handshake
                   (or the request envelope), else the HTTP User-Agent
    client_*       clientInfo name and version; protocol_version, transport
    trace_id ...   the SDK span's trace, span and parent span ids (when tracing is on)
    tool_version   the server's version (or `tool_version=`)
    ip_address     the HTTP peer address, when the transport is HTTP
    user_id        `user_id=` (a function of the request context), else NULL
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from opentelemetry import trace

if TYPE_CHECKING:
    from mcp_analytics.analytics.inventory import Kind

log = logging.getLogger(__name__)

CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
#: The list methods whose results are recorded into the inventory: kind, result attribute.
LIST_METHODS: dict[str, tuple[Kind, str]] = {
    "tools/list": ("tool", "tools"),
    "prompts/list": ("prompt", "prompts"),
    "resources/list": ("resource", "resources"),
    "resources/templates/list": ("resource_template", "resourceTemplates"),
}
#: An unchanged list is recorded again after this many seconds (its period's last seen).
DEFAULT_INVENTORY_REFRESH_S = 3600.0

OperationFn = Callable[[str, Mapping[str, Any] | None], str]
UserIdFn = Callable[[Any], int | None]


class _Recorder(Protocol):
    def record_tool_call(self, **kwargs: Any) -> str: ...


class _InventoryRecorder(Protocol):
    def record_inventory(self, snapshot: dict[str, Any]) -> None: ...


@dataclass
class _CallState:
    """Filled from inside the tool call (MCPServer converts exceptions into isError results,
    so the traceback has to be caught where it is raised)."""

    stack: str | None = None
    error_type: str | None = None
    message: str | None = None
    exception: BaseException | None = None


_current_call: contextvars.ContextVar[_CallState | None] = contextvars.ContextVar(
    "mcp_analytics_current_call", default=None
)
# Connections without a transport session get a stable id of their own (weakly keyed, so a
# closed connection's entry goes with it).
_connection_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class CollectorMiddleware:
    """`mcp` server middleware running inside the SDK's span: enriches the span and, with a
    collector, records each `tools/call` into it."""

    def __init__(
        self,
        collector: _Recorder | None,
        *,
        bcp_name: str,
        tool_version: str | None = None,
        operation: str | OperationFn = "tools/call",
        user_id: UserIdFn | None = None,
        capture_content: bool = False,
        server_name: str | None = None,
        inventory_refresh_s: float | None = DEFAULT_INVENTORY_REFRESH_S,
    ) -> None:
        self.collector = collector
        self.bcp_name = bcp_name
        self.tool_version = tool_version or None
        self.operation = operation
        self.user_id = user_id
        self.capture_content = capture_content
        #: the name the server reports for itself (serverInfo), the inventory's key
        self.server_name = server_name or bcp_name
        #: None: served lists are not recorded into the inventory
        self.inventory_refresh_s = inventory_refresh_s
        # kind -> (fingerprints of the list last recorded, time.monotonic() of that record)
        self._inventory_seen: dict[str, tuple[tuple[str, ...], float]] = {}

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        span = trace.get_current_span()
        identity = _safe(_request_identity, ctx) or {}
        _safe(_enrich_span, span, ctx, identity)
        method = getattr(ctx, "method", None)
        if method in LIST_METHODS:
            listed = await call_next(ctx)
            _safe(self._record_list, ctx, method, listed, identity)
            return listed
        if method != "tools/call":
            return await call_next(ctx)
        started_at = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        state = _CallState()
        token = _current_call.set(state)
        try:
            result = await call_next(ctx)
        except BaseException as exc:  # cancellations too: they are recorded, then re-raised
            self._record(ctx, started_at, t0, None, exc, state, identity, span)
            raise
        finally:
            _current_call.reset(token)
        self._record(ctx, started_at, t0, result, None, state, identity, span)
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
        identity: dict[str, Any],
        span: Any,
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
            event.update(identity)
            event.update(_span_ids(span))
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
                    # The client saw an isError result, so the class is tool_error (as on the
                    # SDK's span, error.type); a raised exception's message and traceback,
                    # which the client did not see, are kept beside it.
                    event["error_message"] = state.message or _error_text(wire)
                    event["error_code"] = "tool_error"
                    event["error_stack"] = state.stack
            if self.capture_content:
                _safe(_content_on_span, span, event.get("parameters"), event.get("response_data"))
            if self.collector is not None:
                execution_id = self.collector.record_tool_call(**event)
                if state.error_type is not None:
                    self._record_exception(state, event, execution_id)
        except Exception:  # telemetry must never break the call (logged with its traceback)
            log.warning("mcp-analytics: could not record a tools/call", exc_info=True)

    def _record_exception(
        self, state: _CallState, event: Mapping[str, Any], execution_id: str
    ) -> None:
        """One error_logs row for the exception MCPServer turned into an isError result, with
        its type as error_code: the row the OTLP receiver makes from the span's exception event.
        A recorder without `record_error` gets none."""
        record = getattr(self.collector, "record_error", None)
        if record is None:
            return
        record(
            level="error",
            message=state.message or state.error_type or "exception",
            stack_trace=state.stack,
            error_code=state.error_type,
            tool_context={k: event[k] for k in ("bcp_name", "tool_name", "operation")},
            execution_id=execution_id,
            session_id=event.get("session_id"),
            timestamp=event["timestamp"],
            category="exception",
            severity=4,
            service_version=self.tool_version,
        )

    def _record_list(self, ctx: Any, method: str, result: Any, identity: Mapping[str, Any]) -> None:
        """Hand a served list to the collector's inventory when it is whole and new (or due
        for a refresh)."""
        record = getattr(self.collector, "record_inventory", None)
        if record is None or self.inventory_refresh_s is None:
            return
        params = ctx.params if isinstance(getattr(ctx, "params", None), Mapping) else {}
        wire = _wire(result)
        if not isinstance(wire, Mapping) or params.get("cursor") or wire.get("nextCursor"):
            return
        from mcp_analytics.analytics.inventory import Inventory, definition_of, snapshot_payload

        kind, attribute = LIST_METHODS[method]
        items = wire.get(attribute)
        if not isinstance(items, list):
            return
        definitions = tuple(definition_of(kind, item) for item in items)
        fingerprints = tuple(sorted(f"{d.name}\x00{d.fingerprint}" for d in definitions))
        now = time.monotonic()
        seen = self._inventory_seen.get(kind)
        fresh = seen is not None and now - seen[1] < self.inventory_refresh_s
        if fresh and seen is not None and seen[0] == fingerprints:
            return
        self._inventory_seen[kind] = (fingerprints, now)
        inventory = Inventory(
            bcp_name=self.server_name,
            server_version=self.tool_version,
            protocol_version=identity.get("protocol_version"),
            definitions=definitions,
        )
        request = getattr(ctx, "request", None)
        url = getattr(request, "url", None)
        endpoint = _endpoint(url) if url is not None else "in-process"
        recorder = cast(_InventoryRecorder, self.collector)
        recorder.record_inventory(
            snapshot_payload(
                inventory,
                source="instrumentation",
                endpoint=endpoint,
                taken_at=dt.datetime.now(dt.UTC),
                kinds=[kind],
            )
        )

    def _operation(self, tool: str, arguments: Mapping[str, Any] | None) -> str:
        if callable(self.operation):
            return str(self.operation(tool, arguments))
        return self.operation


def instrument(
    server: Any,
    collector: _Recorder | None = None,
    *,
    bcp_name: str | None = None,
    tool_version: str | None = None,
    operation: str | OperationFn = "tools/call",
    user_id: UserIdFn | None = None,
    capture_content: bool = False,
    otlp_endpoint: str | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    inventory_refresh_s: float | None = DEFAULT_INVENTORY_REFRESH_S,
) -> CollectorMiddleware:
    """Instrument an `MCPServer` or a low-level `Server`; returns the middleware installed.

    `collector`: record every tools/call as a row through it (or None: spans only).
    `capture_content`: put tool arguments and results on the spans (the collector's rows
    always carry them, redacted). `otlp_endpoint`: send the SDK's spans to an OTLP/HTTP
    receiver (e.g. `http://127.0.0.1:4318`), with `otlp_headers` (an API key); installs an
    OpenTelemetry SDK tracer provider for `service.name` = the server's name when the process
    has none. `inventory_refresh_s`: with a collector, the tools/prompts/resources lists the
    server serves are recorded into the tool inventory under the server's own name when they
    change, and again this many seconds after (None: never). Call it once, before the server
    runs: the middleware goes last in the chain
    (innermost), inside the SDK's span, so it times the tool itself. Raises TypeError for an
    object that is not an mcp 2.x server, ValueError when the server is already instrumented.
    """
    chain = getattr(server, "middleware", None)
    if not isinstance(chain, list):
        raise TypeError(f"{type(server).__name__} has no middleware list: not an mcp 2.x server")
    if any(isinstance(m, CollectorMiddleware) for m in chain):
        raise ValueError("this server is already instrumented")
    name = bcp_name or getattr(server, "name", None) or "mcp-server"
    version = tool_version or getattr(server, "version", None)
    if otlp_endpoint is not None:
        export_spans(otlp_endpoint, service=name, version=version, headers=otlp_headers)
    middleware = CollectorMiddleware(
        collector,
        bcp_name=name,
        tool_version=version,
        operation=operation,
        user_id=user_id,
        capture_content=capture_content,
        server_name=getattr(server, "name", None) or name,
        inventory_refresh_s=inventory_refresh_s,
    )
    chain.append(middleware)
    _capture_tracebacks(server)
    return middleware


def export_spans(
    endpoint: str,
    *,
    service: str,
    version: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send the process's spans to an OTLP/HTTP receiver (protobuf, batched).

    Adds a batch processor to the OpenTelemetry SDK tracer provider in use, or installs one
    (with `service.name` / `service.version`) when the process has none. Returns the provider
    (call its `shutdown()` at exit to flush)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        attributes = {"service.name": service}
        if version:
            attributes["service.version"] = version
        provider = TracerProvider(resource=Resource.create(attributes))
        trace.set_tracer_provider(provider)
    exporter = OTLPSpanExporter(
        endpoint=endpoint.rstrip("/") + "/v1/traces", headers=dict(headers or {})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


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
                # The SDK's span only learns "tool_error"; give it the exception too.
                _safe(trace.get_current_span().record_exception, root)
            raise

    call_tool._mcp_analytics = True  # type: ignore[attr-defined]
    server.call_tool = call_tool


# --------------------------------------------------------------------------- helpers


def _safe(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a telemetry step; a failure is logged, never raised into the call."""
    try:
        return fn(*args)
    except Exception:  # telemetry must never break the call (logged with its traceback)
        log.debug("mcp-analytics: telemetry step %s failed", fn.__name__, exc_info=True)
        return None


def _enrich_span(span: Any, ctx: Any, identity: Mapping[str, Any]) -> None:
    """Add to the SDK's span what it leaves out (no-op when tracing is off)."""
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {}
    for key, column in (
        ("mcp.client.name", "client_name"),
        ("mcp.client.version", "client_version"),
        ("mcp.session.id", "session_id"),
        ("network.transport", "transport"),
        ("client.address", "ip_address"),
    ):
        if identity.get(column):
            attributes[key] = identity[column]
    headers = getattr(getattr(ctx, "request", None), "headers", None)
    agent = headers.get("user-agent") if headers is not None else None
    if agent:
        attributes["user_agent.original"] = agent
    params = ctx.params if isinstance(getattr(ctx, "params", None), Mapping) else {}
    if getattr(ctx, "method", None) == "resources/read" and isinstance(params.get("uri"), str):
        attributes["mcp.resource.uri"] = params["uri"]
    span.set_attributes(attributes)


def _content_on_span(span: Any, arguments: Any, result: Any) -> None:
    if not span.is_recording():
        return
    if arguments is not None:
        span.set_attribute("gen_ai.tool.call.arguments", json.dumps(arguments, default=str))
    if result is not None:
        span.set_attribute("gen_ai.tool.call.result", json.dumps(result, default=str))


def _span_ids(span: Any) -> dict[str, Any]:
    """The hex ids of the SDK's span (and its parent) when tracing is on."""
    context = span.get_span_context()
    if not context.is_valid:
        return {}
    parent = getattr(span, "parent", None)
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
    }


def _meta_value(meta: Any, key: str) -> Any:
    if meta is None:
        return None
    if isinstance(meta, Mapping):
        return meta.get(key)
    extra = getattr(meta, "model_extra", None) or {}
    if key in extra:
        return extra[key]
    return getattr(meta, key, None)


def _client_info(ctx: Any) -> tuple[str | None, str | None]:
    """clientInfo name and version: the initialize handshake's, else the request's `_meta`
    (the stateless 2026-07-28 revision sends it with every request)."""
    session = getattr(ctx, "session", None)
    client = getattr(getattr(session, "client_params", None), "client_info", None)
    if client is None:
        client = _meta_value(getattr(ctx, "meta", None), CLIENT_INFO_META)
    if isinstance(client, Mapping):
        name, version = client.get("name"), client.get("version")
    else:
        name, version = getattr(client, "name", None), getattr(client, "version", None)
    return (name if isinstance(name, str) and name else None), (
        version if isinstance(version, str) and version else None
    )


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

    client_name, client_version = _client_info(ctx)
    if client_name:
        user_agent = f"{client_name}/{client_version}" if client_version else client_name
    elif headers is not None:
        user_agent = headers.get("user-agent")
    else:
        user_agent = None

    peer = getattr(getattr(request, "client", None), "host", None)
    protocol = getattr(ctx, "protocol_version", None)
    return {
        "session_id": session_id or None,
        "request_id": f"{scope}/{request_id}" if request_id is not None else None,
        "user_agent": user_agent,
        "ip_address": peer if _is_ip(peer) else None,
        "client_name": client_name,
        "client_version": client_version,
        "protocol_version": protocol if isinstance(protocol, str) else None,
        # HTTP transports carry the request; stdio and in-memory ones do not say which.
        "transport": "tcp" if request is not None else None,
    }


def _endpoint(url: Any) -> str:
    """The request's URL without credentials, query or fragment."""
    from mcp_analytics.analytics.inventory import endpoint_label

    return endpoint_label(str(url))


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
        str(block["text"])
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

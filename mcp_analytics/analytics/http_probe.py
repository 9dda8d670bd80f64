"""Why a URL is not a Streamable HTTP MCP endpoint, in HTTP's own terms.

The MCP SDK's client turns an HTTP answer it cannot use into a JSON-RPC error without the
status (a 404 becomes "MCPError: Not Found"). When a snapshot fails that way, `not_an_endpoint`
sends the request the SDK's first one is (an MCP `initialize` POST, JSON body, accepting JSON or
an event stream) once more and describes the answer, so the operator sees the status, what the
URL answered instead, and where MCP endpoints usually are.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx2

#: The request the SDK's client sends first (what an endpoint must answer with 2xx).
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcp-analytics-probe", "version": "0"},
    },
}
#: The content types an MCP endpoint answers a request with.
_MCP_TYPES = ("application/json", "text/event-stream")
#: The usual path of a Streamable HTTP endpoint (the SDK's `streamable_http_app()` default).
USUAL_PATH = "/mcp"


def _answer(url: str, timeout: float) -> tuple[int, str, str, str] | None:
    """(status, reason, content type, redirect location) of `url`'s answer to an initialize
    POST, not following redirects; None when it cannot be asked (unreachable, not HTTP)."""
    try:
        # the SDK's own HTTP client library, so proxies and TLS behave as in the snapshot
        response = httpx2.post(
            url,
            json=_INITIALIZE,
            headers={"Accept": ", ".join(_MCP_TYPES)},
            timeout=timeout,
            follow_redirects=False,
        )
    except (httpx2.HTTPError, ValueError):
        return None
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    location = response.headers.get("Location") or ""
    return response.status_code, response.reason_phrase, content_type, location


def not_an_endpoint(url: str, *, timeout: float = 10.0) -> tuple[str, bool] | None:
    """Why `url` did not serve as a Streamable HTTP MCP endpoint, as (one line, whether the
    URL is wrong): the HTTP status it answers an MCP initialize request with (and the content
    type or redirect when they say more) and the hint (endpoints are usually at /mcp; a stdio
    server needs --command). A 401 or 403 is an endpoint that wants credentials, not a wrong
    URL.

    Returns None when the answer is one an endpoint gives (2xx, JSON or an event stream) or
    the URL cannot be reached: the SDK's own error is the better message then.
    """
    found = _answer(url, timeout)
    if found is None:
        return None
    status, reason, content_type, location = found
    if 200 <= status < 300 and content_type in _MCP_TYPES:
        return None
    answered = f"HTTP {status} {reason}".rstrip()
    if status in (401, 403):
        return (
            f"it refused an MCP initialize request with {answered}: the server wants"
            " credentials, which a snapshot does not send",
            False,
        )
    if 300 <= status < 400 and location:
        answered += f" (a redirect to {location})"
    elif 200 <= status < 300:
        answered += f" with {content_type or 'no Content-Type'}, not JSON or an event stream"
    parts = urlsplit(url)
    hint = "Streamable HTTP endpoints are usually at /mcp"
    if parts.path.rstrip("/") != USUAL_PATH:
        usual = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], USUAL_PATH, "", ""))
        hint += f" (try {usual})"
    return (
        f"not an MCP endpoint: it answered an MCP initialize request with {answered}."
        f" {hint}; for a stdio server use --command",
        True,
    )

"""The alias table (mcp_analytics/otlp/aliases.toml): one test per alias, and the table's rules."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_analytics.otlp import aliases
from mcp_analytics.otlp.batch import prepare_mapped
from mcp_analytics.otlp.mapping import map_traces

from . import otlp_data as d

TABLE = aliases.table()

# A value each alias's canonical attribute is sent with, and the base span it goes on.
SAMPLES: dict[str, Any] = {
    "gen_ai.tool.name": "lookup_order",
    "gen_ai.prompt.name": "summarise",
    "jsonrpc.request.id": "req-99",
    "network.transport": "tcp",
    "error.type": "tool_error",
    "rpc.status_code": "-32602",
    "http.request.method": "PUT",
    "http.response.status_code": 418,
    "url.path": "/mcp/v2",
    "user_agent.original": "curl/8.5",
    "client.address": "198.51.100.4",
    "deployment.environment.name": "staging",
    "gen_ai.tool.call.arguments": '{"q": 1}',
    "mcp.resource.uri": "notes://today",
}
# The operation a canonical attribute belongs to (tools/call otherwise).
METHODS = {"gen_ai.prompt.name": "prompts/get", "mcp.resource.uri": "resources/read"}
# The value the alias itself is sent with (translated through the row's `values` where it has
# them) so that it reads as SAMPLES[canonical].
ALIAS_VALUES: dict[Any, Any] = {
    "mcp.transport": "StreamableHTTPServerTransport",
    "mcp.tool.result.is_error": True,
    ("traceloop.entity.input", "gen_ai.tool.call.arguments"): (
        '{"tool_name": "add", "arguments": {"q": 1}}'
    ),
    ("traceloop.entity.input", "gen_ai.prompt.name"): (
        '{"method": "prompts/get", "params": {"name": "summarise"}}'
    ),
    ("traceloop.entity.input", "mcp.resource.uri"): (
        '{"method": "resources/read", "params": {"uri": "notes://today"}}'
    ),
}


def _alias_value(alias: aliases.Alias, default: Any) -> Any:
    return ALIAS_VALUES.get((alias.name, alias.canonical), ALIAS_VALUES.get(alias.name, default))


def _rows(
    attrs: dict[str, Any], res: dict[str, Any], failed: bool = False, method: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Everything one span with `attrs` (and an exception) on resource `res` stores."""
    if method is None and ("gen_ai.prompt.name" in attrs or "mcp.prompt.name" in attrs):
        method = "prompts/get"
    base: dict[str, Any] = {"mcp.method.name": method or "tools/call"}
    if not any(k in attrs for k in ("gen_ai.tool.name", "mcp.tool.name")) and method is None:
        base["gen_ai.tool.name"] = "add"
    http = {k for k in attrs if k.startswith(("http.", "url.", "user_agent", "client.", "net."))}
    if http:
        base.setdefault("http.request.method", "POST")
        base.setdefault("http.response.status_code", 200)
        base.setdefault("url.path", "/mcp")
        for key in ("http.method", "http.status_code", "http.target"):
            if key in attrs:
                base.pop(
                    {
                        "http.method": "http.request.method",
                        "http.status_code": "http.response.status_code",
                        "http.target": "url.path",
                    }[key]
                )
    span = d.span(
        "op",
        {**base, **attrs},
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=bytes.fromhex("b7ad6b7169203331"),
        start=d.T0,
        events=[d.exception_event()],
        status=(d.ERROR, "failed") if failed else None,
    )
    prepared = prepare_mapped(map_traces(d.traces(span, res=res)), source_name="test")
    assert prepared.rejected == 0, prepared.reasons
    return prepared.rows


@pytest.mark.parametrize("alias", TABLE, ids=[a.name for a in TABLE])
def test_alias_is_read_as_its_canonical_name(alias: aliases.Alias) -> None:
    value = SAMPLES[alias.canonical]
    sent = _alias_value(alias, value)
    method = METHODS.get(alias.canonical)
    if alias.scope == "resource":
        canonical = _rows({}, d.resource(**{alias.canonical: value}))
        via_alias = _rows({}, d.resource(**{alias.name: sent}))
        without = _rows({}, d.resource())
    else:
        # A JSON-RPC code is the error code of a failed span only.
        failed = alias.canonical == "rpc.status_code"
        canonical = _rows({alias.canonical: value}, d.resource(), failed, method)
        via_alias = _rows({alias.name: sent}, d.resource(), failed, method)
        without = _rows({}, d.resource(), failed, method)
    # The alias stores exactly what the standard name stores, and that is not the default.
    assert via_alias == canonical
    assert via_alias != without


@pytest.mark.parametrize("alias", TABLE, ids=[a.name for a in TABLE])
def test_standard_name_wins_over_alias(alias: aliases.Alias) -> None:
    attrs = {alias.canonical: "standard", alias.name: _alias_value(alias, "alias")}
    assert aliases.resolve(dict(attrs), alias.scope)[alias.canonical] == "standard"


def test_value_translations() -> None:
    transport = {a.name: a for a in TABLE}["mcp.transport"]
    assert transport.translate("stdio") == "pipe"
    assert transport.translate("sse") == "tcp"
    assert transport.translate("quic") == "quic"  # other = "keep"
    is_error = {a.name: a for a in TABLE}["mcp.tool.result.is_error"]
    assert is_error.translate(True) == "tool_error"
    assert is_error.translate(False) is None  # not an error: error.type stays unset
    assert aliases.resolve({"mcp.tool.result.is_error": False}) == {
        "mcp.tool.result.is_error": False
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[alias]]\nname = 'a'\n", "needs string `name` and `canonical`"),
        ("[[alias]]\nname = 'a'\ncanonical = 'b'\nscope = 'log'\n", "scope must be one of"),
        ("[[alias]]\nname = 'a'\ncanonical = 'b'\nother = 'x'\n", "`other` can only be"),
        ("[[alias]]\nname='a'\ncanonical='b'\n[[alias]]\nname='a'\ncanonical='b'\n", "twice"),
        ("[[alias]\n", "aliases.toml:"),
    ],
)
def test_malformed_table_is_refused_with_the_row(text: str, message: str) -> None:
    with pytest.raises(aliases.AliasTableError, match=message.replace("`", ".")):
        aliases.parse_table(text)


def test_every_alias_of_the_issue_is_in_the_table() -> None:
    names = {a.name: a.canonical for a in TABLE}
    assert names["mcp.tool.name"] == "gen_ai.tool.name"
    assert names["mcp.request.id"] == "jsonrpc.request.id"
    assert names["mcp.transport"] == "network.transport"
    assert names["mcp.tool.result.is_error"] == "error.type"
    assert names["rpc.jsonrpc.request_id"] == "jsonrpc.request.id"
    assert names["rpc.jsonrpc.error_code"] == "rpc.status_code"
    assert names["rpc.response.status_code"] == "rpc.status_code"


def test_http_target_query_is_split_off() -> None:
    rows = _rows({"http.target": "/mcp/v2?x=1&y=2&y=3"}, d.resource())
    request = rows["mcp_request_logs"][0]
    assert request["path"] == "/mcp/v2"
    assert request["query_params"] == '{"x":"1","y":["2","3"]}'


@pytest.mark.parametrize(
    ("name", "attrs", "expected"),
    [
        ("add.tool", {"traceloop.span.kind": "tool"}, ("tools/call", "add")),
        ("prompts/get.mcp", {}, ("prompts/get", "prompts/get")),
        ("initialize.mcp", {}, ("initialize", "initialize")),
        (
            "notifications/initialized.mcp",
            {},
            ("notifications/initialized", "notifications/initialized"),
        ),
    ],
)
def test_span_name_rows(name: str, attrs: dict[str, Any], expected: tuple[str, str]) -> None:
    span = d.span(name, attrs, kind=d.INTERNAL)
    rows = prepare_mapped(map_traces(d.traces(span)), source_name="t").rows["tool_usage_logs"]
    assert (rows[0]["operation"], rows[0]["tool_name"]) == expected


def test_span_names_do_not_apply_where_they_should_not() -> None:
    not_a_tool = d.span("add.tool", {"traceloop.span.kind": "task"}, kind=d.INTERNAL)
    other = d.span("GET /health.mcp", {}, kind=d.INTERNAL)
    standard = d.span("weird.tool", {"traceloop.span.kind": "tool", "mcp.method.name": "ping"})
    prepared = prepare_mapped(map_traces(d.traces(not_a_tool, other, standard)), source_name="t")
    assert prepared.dropped == 2
    assert prepared.rows["tool_usage_logs"][0]["operation"] == "ping"

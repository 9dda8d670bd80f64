"""What an MCP server advertises: read it as a client, fingerprint each definition, store it.

`fetch(target)` connects to a server (a Streamable HTTP URL, or a stdio command as
`StdioServerParameters`), reads tools/list, prompts/list, resources/list and
resources/templates/list (each page, each only when the server has the capability) and returns
an `Inventory` under the name the server reports for itself (serverInfo.name). `store(conn,
inventory)` records it through `mcp_record_inventory()` (bootstrap_sql/082), which keeps each
version of a definition once per stretch of snapshots it was advertised.

A definition's fingerprint is the SHA-256 of the canonical JSON (sorted keys, compact, UTF-8:
`ingest.events.canonical_json`) of the fields that make its contract, `FINGERPRINTED` (a tool:
name, description, inputSchema, outputSchema, annotations); fields a server leaves out are
left out, so adding an empty field changes nothing.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Required, TypedDict, Unpack
from urllib.parse import urlsplit, urlunsplit

import anyio
import orjson
import psycopg
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from mcp_analytics.analytics.http_probe import not_an_endpoint
from mcp_analytics.ingest.events import canonical_json

Kind = Literal["tool", "prompt", "resource", "resource_template"]
KINDS: tuple[Kind, ...] = ("tool", "prompt", "resource", "resource_template")
Source = Literal["cli", "schedule", "instrumentation"]

#: The fields of each kind of definition that its fingerprint covers (wire names).
FINGERPRINTED: dict[str, tuple[str, ...]] = {
    "tool": ("name", "description", "inputSchema", "outputSchema", "annotations"),
    "prompt": ("name", "description", "arguments"),
    "resource": ("uri", "name", "description", "mimeType"),
    "resource_template": ("uriTemplate", "name", "description", "mimeType"),
}
#: The field that names a definition of each kind.
NAME_FIELD = {
    "tool": "name",
    "prompt": "name",
    "resource": "uri",
    "resource_template": "uriTemplate",
}
#: Pages read per list at most (a server whose cursor never ends cannot hold a snapshot forever).
MAX_PAGES = 100
DEFAULT_TIMEOUT_S = 30.0


class InventoryError(RuntimeError):
    """A snapshot that could not be taken: the message says what failed, where."""


class NotAnEndpointError(InventoryError):
    """The URL answers HTTP, but not as a Streamable HTTP MCP endpoint (a wrong URL: the
    message has the HTTP status and where endpoints usually are)."""


@dataclass(frozen=True)
class Definition:
    """One advertised tool, prompt, resource or resource template."""

    kind: Kind
    name: str
    #: the fingerprinted fields, as the server sent them (wire names)
    definition: dict[str, Any]
    fingerprint: str


@dataclass(frozen=True)
class Inventory:
    """What one server advertised at one time."""

    bcp_name: str
    server_version: str | None
    protocol_version: str | None
    definitions: tuple[Definition, ...] = field(default_factory=tuple)

    def of_kind(self, kind: Kind) -> list[Definition]:
        return [d for d in self.definitions if d.kind == kind]


def fingerprint(definition: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of `definition`."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def definition_of(kind: Kind, wire: Mapping[str, Any]) -> Definition:
    """The `Definition` of one item of a list result in its wire form (camelCase keys).

    Raises:
        InventoryError: the item has no name (or URI) to store it under.
    """
    fields = {k: wire[k] for k in FINGERPRINTED[kind] if wire.get(k) is not None}
    name = fields.get(NAME_FIELD[kind])
    if not isinstance(name, str) or not name:
        raise InventoryError(f"a {kind} without {NAME_FIELD[kind]}: {str(dict(wire))[:200]}")
    # round-trip through JSON: what is stored is plain JSON whatever the SDK's models held
    plain = orjson.loads(orjson.dumps(fields))
    return Definition(kind, name, plain, fingerprint(plain))


def _wire(item: Any) -> dict[str, Any]:
    dump = getattr(item, "model_dump", None)
    if dump is not None:
        return dump(mode="json", by_alias=True, exclude_none=True)
    return dict(item)


async def _pages(
    list_page: Callable[[str | None], Awaitable[Any]], attribute: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await list_page(cursor)
        items.extend(_wire(item) for item in getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            return items
    raise InventoryError(f"{attribute}: still more pages after {MAX_PAGES}")


async def fetch_async(
    target: str | StdioServerParameters | Any, *, timeout: float = DEFAULT_TIMEOUT_S
) -> Inventory:
    """Read what the server `target` advertises (see the module docstring).

    `target`: a Streamable HTTP URL, `StdioServerParameters`, or anything `mcp.Client` takes
    (an in-process server in tests).

    Raises:
        InventoryError: the server could not be reached or answered something unusable
            (the message names the step and the cause).
    """
    try:
        with anyio.fail_after(timeout):
            async with Client(target, read_timeout_seconds=timeout, cache=None) as client:
                info = client.server_info
                if info is None or not info.name:
                    raise InventoryError("the server did not say its name (serverInfo)")
                caps = client.server_capabilities
                definitions: list[Definition] = []
                lists: list[tuple[Kind, Callable[[str | None], Awaitable[Any]], str]] = []
                if caps.tools is not None:
                    lists.append(("tool", lambda c: client.list_tools(cursor=c), "tools"))
                if caps.prompts is not None:
                    lists.append(("prompt", lambda c: client.list_prompts(cursor=c), "prompts"))
                if caps.resources is not None:
                    lists.append(
                        ("resource", lambda c: client.list_resources(cursor=c), "resources")
                    )
                    lists.append(
                        (
                            "resource_template",
                            lambda c: client.list_resource_templates(cursor=c),
                            "resource_templates",
                        )
                    )
                for kind, list_page, attribute in lists:
                    definitions.extend(
                        definition_of(kind, w) for w in await _pages(list_page, attribute)
                    )
                return Inventory(
                    bcp_name=info.name,
                    server_version=info.version or None,
                    protocol_version=client.protocol_version,
                    definitions=_unique(definitions),
                )
    except InventoryError:
        raise
    except TimeoutError:
        raise InventoryError(f"no complete answer within {timeout:g} s") from None
    except Exception as err:  # any failure of the client is the snapshot's
        raise await _client_failure(target, err, timeout) from err


async def _client_failure(target: Any, err: BaseException, timeout: float) -> InventoryError:
    """The snapshot's error for a failure of the client: NotAnEndpointError when `target` is
    a URL that answers HTTP but not as an MCP endpoint (the SDK keeps no HTTP status, "MCPError:
    Not Found": the URL is asked once more), else the innermost cause with what to check."""
    if isinstance(target, str):
        found = await anyio.to_thread.run_sync(
            lambda: not_an_endpoint(target, timeout=min(timeout, 10.0))
        )
        if found is not None:
            why, wrong_url = found
            return NotAnEndpointError(why) if wrong_url else InventoryError(why)
    return InventoryError(_cause(err))


def _cause(err: BaseException) -> str:
    # anyio task groups wrap the transport's error: the innermost says what happened
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    hint = _HINTS.get(text) or _HINTS.get(type(err).__name__)
    return f"{text} ({hint})" if hint else text


#: What to check, by the error's type name or whole text: an unreachable URL, a --command that
#: cannot start, or a server that ends the connection before answering (its stderr says why).
_HINTS = {
    "ConnectError": "is the server running and listening at that URL?",
    "FileNotFoundError": "no such program: check --command, or give the program's full path",
    "MCPError: Connection closed": "the server ended the connection: run it by hand to see why",
}


def _unique(definitions: Iterable[Definition]) -> tuple[Definition, ...]:
    """A name listed twice keeps its first definition (a server's bug, not a second tool)."""
    seen: dict[tuple[str, str], Definition] = {}
    for d in definitions:
        seen.setdefault((d.kind, d.name), d)
    return tuple(seen.values())


def fetch(
    target: str | StdioServerParameters | Any, *, timeout: float = DEFAULT_TIMEOUT_S
) -> Inventory:
    """`fetch_async` from synchronous code (the CLI, Dagster)."""
    return anyio.run(lambda: fetch_async(target, timeout=timeout))


def stdio_target(command: str, env: Mapping[str, str] | None = None) -> StdioServerParameters:
    """A stdio server launched by the shell-quoted `command` (`"python server.py --x"`).

    Raises:
        InventoryError: the command is empty or not valid shell quoting.
    """
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise InventoryError(f"--command: {err}") from None
    if not argv:
        raise InventoryError("--command: empty")
    return StdioServerParameters(command=argv[0], args=argv[1:], env=dict(env) if env else None)


def endpoint_label(target: str | StdioServerParameters) -> str:
    """Where a snapshot was taken, fit to store: a URL without credentials, query or fragment;
    a stdio command as its program and arguments."""
    if isinstance(target, StdioServerParameters):
        return shlex.join([target.command, *target.args])
    parts = urlsplit(str(target))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class SnapshotFields(TypedDict, total=False):
    """What a snapshot records besides its definitions: the keyword arguments of
    `snapshot_payload` and `store`."""

    source: Required[Source]
    endpoint: Required[str]
    #: when it was read (absent or None: the database's now())
    taken_at: datetime | None
    #: why the server could not be read: a failed snapshot
    error: str | None
    #: the kinds of definitions the snapshot read (absent or None: all four); the server's
    #: other definitions are carried over from its previous snapshot (bootstrap_sql/115)
    kinds: Sequence[Kind] | None


def snapshot_payload(
    inventory: Inventory | None, **snapshot: Unpack[SnapshotFields]
) -> dict[str, Any]:
    """The jsonb argument of mcp_record_inventory() for a snapshot (or a failed one)."""
    taken_at, kinds = snapshot.get("taken_at"), snapshot.get("kinds")
    payload: dict[str, Any] = {
        "source": snapshot["source"],
        "endpoint": snapshot["endpoint"],
        "taken_at": taken_at.isoformat() if taken_at else None,
        "error": snapshot.get("error"),
        "definitions": [],
    }
    if kinds is not None:
        payload["kinds"] = list(kinds)
    if inventory is not None:
        payload.update(
            bcp_name=inventory.bcp_name,
            server_version=inventory.server_version,
            protocol_version=inventory.protocol_version,
            definitions=[
                {
                    "kind": d.kind,
                    "name": d.name,
                    "fingerprint": d.fingerprint,
                    "definition": d.definition,
                }
                for d in inventory.definitions
            ],
        )
    return payload


def store(
    conn: psycopg.Connection, inventory: Inventory | None, **snapshot: Unpack[SnapshotFields]
) -> int:
    """Record a snapshot (or, with `error`, a failed one) in its own transaction; returns the
    snapshot's id in mcp_inventory_snapshots.

    Raises:
        psycopg.Error: the database refused it (no bootstrap_sql/082: run bootstrap; `kinds`
            needs 115).
    """
    payload = snapshot_payload(inventory, **snapshot)
    with conn.transaction():
        row = conn.execute(
            "select mcp_record_inventory(%s::jsonb)", (orjson.dumps(payload).decode(),)
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class Changes:
    """How a stored snapshot compares with the server's previous one."""

    snapshot_id: int
    new: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int


def changes(conn: psycopg.Connection, snapshot_id: int) -> Changes:
    """What snapshot `snapshot_id` added, changed and no longer lists (`kind name` each),
    against the same server's previous successful snapshot."""
    rows = conn.execute(
        """
        with this as (
            select id, bcp_name, taken_at from mcp_inventory_snapshots where id = %(id)s
        ),
        previous as (
            select s.id from mcp_inventory_snapshots as s, this
            where s.bcp_name = this.bcp_name and s.error is null
                and (s.taken_at, s.id) < (this.taken_at, this.id)
            order by s.taken_at desc, s.id desc limit 1
        ),
        now_listed as (
            select v.kind, v.name, v.first_snapshot_id = %(id)s as opened
            from mcp_definition_versions as v, this
            where v.bcp_name = this.bcp_name and v.last_snapshot_id = %(id)s
        ),
        before as (
            select v.kind, v.name
            from mcp_definition_versions as v, this, previous
            where v.bcp_name = this.bcp_name and v.last_snapshot_id in (previous.id, %(id)s)
                and v.first_snapshot_id <= previous.id
        )
        select n.kind, n.name, n.opened, b.name is not null as known, false as gone
        from now_listed as n left join before as b using (kind, name)
        union all
        select b.kind, b.name, false, true, true
        from before as b left join now_listed as n using (kind, name)
        where n.name is null
        """,
        {"id": snapshot_id},
    ).fetchall()
    new = tuple(sorted(f"{k} {n}" for k, n, opened, known, gone in rows if opened and not known))
    changed = tuple(sorted(f"{k} {n}" for k, n, opened, known, gone in rows if opened and known))
    removed = tuple(sorted(f"{k} {n}" for k, n, _, _, gone in rows if gone))
    unchanged = sum(1 for _, _, opened, _, gone in rows if not opened and not gone)
    return Changes(snapshot_id, new, changed, removed, unchanged)


def snapshot(
    conn: psycopg.Connection,
    target: str | StdioServerParameters,
    *,
    source: Source = "cli",
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[int, Inventory]:
    """Fetch and store one server's inventory; returns (snapshot id, inventory).

    A server that cannot be read is recorded as a failed snapshot, then the error raised.

    Raises:
        InventoryError: the server could not be read.
    """
    endpoint = endpoint_label(target)
    try:
        inventory = fetch(target, timeout=timeout)
    except InventoryError as err:
        store(conn, None, source=source, endpoint=endpoint, error=str(err)[:2000])
        raise
    return store(conn, inventory, source=source, endpoint=endpoint), inventory


def targets_from_config(value: Any) -> list[str | StdioServerParameters]:
    """The servers listed in system_configuration `analytics.inventory_servers`: a list of
    `{"url": ...}` or `{"command": ...}` objects (or plain URL strings).

    Raises:
        InventoryError: an entry is neither (the message names it).
    """
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InventoryError(f"analytics.inventory_servers: expected a list, got {value!r:.80}")
    out: list[str | StdioServerParameters] = []
    for i, entry in enumerate(value):
        if isinstance(entry, str) and entry:
            out.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
            out.append(entry["url"])
        elif isinstance(entry, Mapping) and isinstance(entry.get("command"), str):
            out.append(stdio_target(entry["command"], entry.get("env")))
        else:
            raise InventoryError(
                f'analytics.inventory_servers[{i}]: expected {{"url": ...}} or '
                f'{{"command": ...}}, got {entry!r:.80}'
            )
    return out

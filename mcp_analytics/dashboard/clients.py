"""Who calls the MCP servers: clients, protocol versions and transports over a window.

Read from `analytics.daily_client_summary` (one row per UTC day, server, client name and
version, protocol version and transport): the page's rows come in one query over the days the
window touches, and every total here is a sum of those rows' columns. Two things do not add up
across rows and are shown as they are: a p95 (the mart keeps the day's p95, no histogram, so a
window shows the highest daily p95 and says so) and distinct sessions (per day only).

A filter narrows every panel to one value of a dimension (`bcp`, `client`, `client_version`,
`protocol`, `transport`); the value `NONE` selects the rows where the sender recorded nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mcp_analytics.dashboard import catalog
from mcp_analytics.dashboard.cache import CACHE, Source
from mcp_analytics.dashboard.ratios import Ratio, server_fault_rate
from mcp_analytics.dashboard.windows import Window

MART = "daily_client_summary"
#: the filter value that selects rows where the field is null (the sender recorded none)
NONE = "(none)"
#: filter key in the URL -> column of the mart
DIMENSIONS = {
    "bcp": "bcp_name",
    "client": "client_name",
    "client_version": "client_version",
    "protocol": "protocol_version",
    "transport": "transport",
}
CLASSES = ("tool_error", "caller_error", "server_error", "transport_error")

_ROWS = """
select day, bcp_name, client_name, client_version, protocol_version, transport,
       is_pre_2026_07_28_protocol as is_pre, total_calls, failed_calls, tool_error_calls,
       caller_error_calls, server_error_calls, transport_error_calls, p95_duration_ms,
       unique_sessions, first_seen_at, last_seen_at
from analytics.daily_client_summary
where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s {filters}
order by day, bcp_name, client_name, client_version, protocol_version, transport
"""


@dataclass(frozen=True)
class ClientFilter:
    """The dimensions a page is narrowed to: URL key (see DIMENSIONS) -> value or NONE."""

    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> ClientFilter:
        """The known, non-empty filter keys of a request's query."""
        return cls(tuple((k, params[k]) for k in DIMENSIONS if params.get(k)))

    def get(self, key: str) -> str | None:
        return dict(self.values).get(key)

    def with_(self, **changes: str | None) -> dict[str, str]:
        """The filter's query parameters with `changes` (None removes a key)."""
        out = dict(self.values)
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def where(self) -> tuple[sql.Composable, dict[str, Any]]:
        """`and ...` conditions of the filter, and their parameters."""
        parts: list[sql.Composable] = []
        params: dict[str, Any] = {}
        for key, value in self.values:
            column = sql.Identifier(DIMENSIONS[key])
            if value == NONE:
                parts.append(sql.SQL(" and {} is null").format(column))
            else:
                parts.append(sql.SQL(" and {} = {}").format(column, sql.Placeholder(f"f_{key}")))
                params[f"f_{key}"] = value
        return sql.Composed(parts), params


def label(value: Any) -> str:
    """A dimension's value as a page shows it and a filter selects it (None -> NONE)."""
    return NONE if value is None else str(value)


@dataclass
class Group:
    """Sums of the mart's rows of one group (a protocol version, a transport, a client...)."""

    key: tuple[str, ...]
    calls: int = 0
    errors: int = 0
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    #: calls whose protocol version is before 2026-07-28
    pre_protocol_calls: int = 0
    #: the highest p95 of a day's row in the group (ms); a p95 cannot be summed
    max_daily_p95: int | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    #: (client name, version) of the group's rows that name a client
    clients: set[tuple[str, str | None]] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    transports: set[str] = field(default_factory=set)
    servers: set[str] = field(default_factory=set)

    def add(self, row: Mapping[str, Any]) -> None:
        self.calls += row["total_calls"]
        self.errors += row["failed_calls"]
        for c in CLASSES:
            self.classes[c] += row[f"{c}_calls"]
        if row["is_pre"]:
            self.pre_protocol_calls += row["total_calls"]
        p95 = row["p95_duration_ms"]
        if p95 is not None and (self.max_daily_p95 is None or p95 > self.max_daily_p95):
            self.max_daily_p95 = p95
        first, last = row["first_seen_at"], row["last_seen_at"]
        if first is not None and (self.first_seen_at is None or first < self.first_seen_at):
            self.first_seen_at = first
        if last is not None and (self.last_seen_at is None or last > self.last_seen_at):
            self.last_seen_at = last
        if row["client_name"] is not None:
            self.clients.add((row["client_name"], row["client_version"]))
        self.protocols.add(label(row["protocol_version"]))
        self.transports.add(label(row["transport"]))
        self.servers.add(row["bcp_name"])

    error_rate = Ratio("errors", "calls")

    @property
    def server_fault_rate(self) -> float | None:
        """As the Overview and the error budget count (ratios.server_fault_rate)."""
        return server_fault_rate(self.errors, self.classes["caller_error"], self.calls)

    pre_protocol_share = Ratio("pre_protocol_calls", "calls")


@dataclass
class Clients:
    """daily_client_summary over a window, narrowed by a filter.

    Attributes:
        days: the UTC days the window touches (the mart's grain), oldest first.
        total: the sums over every row.
        by_protocol / by_transport / by_server / by_client: groups, most calls first; keys are
            (protocol,), (transport,), (bcp_name,), (client name, client version), NONE where
            the sender recorded none.
        eras: protocol version -> True when before 2026-07-28 (None: not recorded).
        protocol_series / transport_series: value -> calls per day of `days`.
        rows: the mart's rows themselves (a day, server, client, protocol, transport each).
    """

    days: list[datetime]
    total: Group
    by_protocol: list[Group]
    by_transport: list[Group]
    by_server: list[Group]
    by_client: list[Group]
    eras: dict[str, bool | None]
    protocol_series: dict[str, list[int]]
    transport_series: dict[str, list[int]]
    rows: list[dict[str, Any]]


def window_days(window: Window) -> list[datetime]:
    """Start of every UTC day the window touches, oldest first."""
    day = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while day < window.end:
        out.append(day)
        day += timedelta(days=1)
    return out


def _groups(groups: dict[Hashable, Group]) -> list[Group]:
    return sorted(groups.values(), key=lambda g: (-g.calls, g.key))


def _series(rows: list[dict[str, Any]], column: str, days: list[datetime]) -> dict[str, list[int]]:
    index = {d: i for i, d in enumerate(days)}
    out: dict[str, list[int]] = {}
    for r in rows:
        calls = out.setdefault(label(r[column]), [0] * len(days))
        if r["day"] in index:
            calls[index[r["day"]]] += r["total_calls"]
    # the series with most calls first (drawn at the bottom of the stack)
    return dict(sorted(out.items(), key=lambda kv: (-sum(kv[1]), kv[0])))


def _clients(conn: psycopg.Connection, window: Window, filt: ClientFilter) -> Clients:
    conditions, params = filt.where()
    query = sql.SQL(_ROWS).format(filters=conditions)
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(query, {"start": window.start, "end": window.end, **params}).fetchall()
    total = Group(key=())
    groups: dict[str, dict[Hashable, Group]] = {
        "protocol": {},
        "transport": {},
        "server": {},
        "client": {},
    }
    eras: dict[str, bool | None] = {}
    for r in rows:
        total.add(r)
        protocol, transport = label(r["protocol_version"]), label(r["transport"])
        client = (label(r["client_name"]), label(r["client_version"]))
        eras[protocol] = r["is_pre"]
        for name, key in (
            ("protocol", (protocol,)),
            ("transport", (transport,)),
            ("server", (r["bcp_name"],)),
            ("client", client),
        ):
            group = groups[name].get(key)
            if group is None:
                groups[name][key] = group = Group(key=key)
            group.add(r)
    days = window_days(window)
    return Clients(
        days=days,
        total=total,
        by_protocol=_groups(groups["protocol"]),
        by_transport=_groups(groups["transport"]),
        by_server=_groups(groups["server"]),
        by_client=_groups(groups["client"]),
        eras=eras,
        protocol_series=_series(rows, "protocol_version", days),
        transport_series=_series(rows, "transport", days),
        rows=rows,
    )


def built(conn: psycopg.Connection) -> bool:
    """Whether dbt has built analytics.daily_client_summary."""
    return catalog.built(conn, "daily_client_summary")


def clients(conn: psycopg.Connection, window: Window, filt: ClientFilter) -> Clients | None:
    """Clients, protocol versions and transports of the window's days (see the module
    docstring); None when the mart is not built. Cached until its rows change."""
    if not built(conn):
        return None
    days = window_days(window)
    source: Source = ("daily_client_summary", "day", days[0], window.end)
    key = ("clients", window, filt)
    return CACHE.get(conn, key, [source], lambda: _clients(conn, window, filt))

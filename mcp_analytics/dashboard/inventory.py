"""What each MCP server advertises against what is called: the tool inventory and its drift.

Read from `analytics.tool_inventory` (per server and tool: status called / never_called /
not_advertised, usage of the last 7 days, the current definition, calls and server-fault error
rate in the 7 days before and after its latest change) and `analytics.tool_definition_history`
(every version of every definition). Both marts are rebuilt whole on each run and describe
the state at their `as_of` hour, not a window: the pages show them as they are.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from mcp_analytics.dashboard import catalog

STATUSES = ("called", "never_called", "not_advertised")

_INVENTORY = """
select bcp_name, tool_name, status, is_advertised, calls_last_7_days, error_calls_last_7_days,
       last_called_at, current_fingerprint, definition_since, latest_change_at,
       previous_fingerprint, calls_before_change, error_rate_before_change, calls_after_change,
       error_rate_after_change, inventory_taken_at, as_of
from analytics.tool_inventory
where %(status)s::text is null or status = %(status)s
order by bcp_name, status, tool_name
"""

_HISTORY = """
select kind, definition_name, version_number, fingerprint, previous_fingerprint, change_kind,
       changed_fields, first_seen_at, last_seen_at, times_seen, is_current, description
from analytics.tool_definition_history
where bcp_name = %(bcp)s and kind = 'tool' and definition_name = %(tool)s
order by version_number desc
"""

_TOOL = """
select status, is_advertised, calls_last_7_days, error_calls_last_7_days, last_called_at,
       current_fingerprint, definition_since, latest_change_at, previous_fingerprint,
       calls_before_change, error_rate_before_change, calls_after_change,
       error_rate_after_change, inventory_taken_at, as_of
from analytics.tool_inventory
where bcp_name = %(bcp)s and tool_name = %(tool)s
"""


def built(conn: psycopg.Connection) -> bool:
    """Whether dbt has built both inventory marts."""
    return catalog.built(conn, "tool_inventory", "tool_definition_history")


def inventory(conn: psycopg.Connection, status: str | None = None) -> list[dict[str, Any]] | None:
    """Rows of analytics.tool_inventory (of one status when given), by server, status, tool;
    None when the marts are not built.

    Raises:
        ValueError: a status that is not one of STATUSES.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}: choose one of {', '.join(STATUSES)}")
    if not built(conn):
        return None
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(_INVENTORY, {"status": status}).fetchall()


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Tools per status, every status present."""
    out = dict.fromkeys(STATUSES, 0)
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def tool(conn: psycopg.Connection, bcp_name: str, tool_name: str) -> dict[str, Any] | None:
    """One tool's inventory row with `versions` (its definition history, newest first); None
    when the marts are not built or the tool is in neither."""
    if not built(conn):
        return None
    cur = conn.cursor(row_factory=dict_row)
    params = {"bcp": bcp_name, "tool": tool_name}
    row = cur.execute(_TOOL, params).fetchone()
    versions = cur.execute(_HISTORY, params).fetchall()
    if row is None and not versions:
        return None
    return {**(row or {"status": None}), "versions": versions}

"""Unresolved errors (the raw `error_logs`, through its indexes) and their resolution.

The list reads only unresolved rows (the partial index `idx_error_logs_resolved`) and searches
messages with the expression of the seed's full-text index `idx_error_logs_message_fts`
(`to_tsvector('english', message)`), so a search is an index lookup, never a scan. Resolving
records who did it (`resolved_by`) and when; the row's day is then marked dirty for
analytics.daily_error_summary by the late-data triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

PAGE_SIZE = 50
MAX_NOTES = 4000
MAX_QUERY = 200

_UNRESOLVED = """
select id, "timestamp", level::text as level, category, error_code, severity,
       left(message, 500) as message, tool_context ->> 'tool_name' as tool_name,
       occurrence_count, environment, service_version
from error_logs
where resolved = false
  and (%(q)s::text is null
       or to_tsvector('english', message) @@ websearch_to_tsquery('english', %(q)s))
  and (%(tool)s::text is null or tool_context @> jsonb_build_object('tool_name', %(tool)s::text))
order by "timestamp" desc, id desc
limit %(limit)s
"""


class ResolveError(ValueError):
    """The error cannot be resolved as asked (the message says why)."""


@dataclass(frozen=True)
class Resolution:
    id: int
    resolved_by: int
    resolved_at: datetime


def unresolved(
    conn: psycopg.Connection,
    *,
    query: str | None = None,
    tool_name: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """The newest unresolved errors, optionally matching a web-style search `query` (words,
    "phrases", -excluded) in the message, or of one tool (tool_context.tool_name)."""
    text = (query or "").strip()[:MAX_QUERY] or None
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(_UNRESOLVED, {"q": text, "tool": tool_name, "limit": limit}).fetchall()


def unresolved_count(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from error_logs where resolved = false").fetchone()
    return int(row[0]) if row else 0


def resolve(conn: psycopg.Connection, error_id: int, notes: str, user_id: int) -> Resolution:
    """Mark one error resolved with `notes`, recording `user_id` as resolved_by.

    Raises:
        ResolveError: empty or too long notes, or no unresolved error with that id.
    """
    notes = (notes or "").strip()
    if not notes:
        raise ResolveError("say how it was resolved: the notes may not be empty")
    if len(notes) > MAX_NOTES:
        raise ResolveError(f"notes may be at most {MAX_NOTES} characters")
    with conn.transaction():
        row = conn.execute(
            """
            update error_logs
            set resolved = true, resolution_notes = %s, resolved_by = %s, resolved_at = now()
            where id = %s and resolved is not true
            returning id, resolved_by, resolved_at
            """,
            (notes, user_id, error_id),
        ).fetchone()
    if row is None:
        raise ResolveError(f"error {error_id} does not exist or is already resolved")
    return Resolution(*row)

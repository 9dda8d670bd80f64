"""Plain synthetic telemetry generated in SQL, for the tests and the benchmarks.

Unlike the demo's workload (`workload.py`: a realistic story, written by COPY), these rows are
made by the server itself from `generate_series`, in one statement per table: a million rows
in seconds, deterministic for a given seed, spread uniformly over a time window with skewed
latencies. The shape (how many BCPs, tools, users, sessions) is a parameter, so the tests keep
small groups and the benchmarks realistic ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

# Per table, column -> SQL expression of `g` (the row's number) and the shape's parameters.
_WHEN = "%(start)s::timestamptz + random() * %(span)s::interval"
_USER = "(select min(id) from users where username like %(user_prefix)s) + (g %% %(users)s)"
_SESSION = "'session_' || (g %% %(sessions)s)"

_TOOL_CALLS = {
    "execution_id": "%(tag)s::text || '-call-' || g",
    "bcp_name": "'bcp_' || (g %% %(bcps)s)",
    "tool_name": "'tool_' || (g %% %(tools)s)",
    "operation": "case when g %% 5 = 0 then 'write' else 'read' end",
    # log-normal-ish: many fast calls, a long tail
    "duration_ms": "(exp(random() * 9))::integer",
    # every tenth call fails with a code of each error class, stored with its class as the
    # ingest path would; a few more fail with no code and no class stored (rows written around
    # the ingest path, classified by mcp_error_class in the marts)
    "success": "g %% 10 <> 3 and random() > 0.05",
    "error_code": "case when g %% 10 = 3 then (array['tool_error', '-32602', '-32603',"
    " 'TimeoutError', '503', 'E_APP', null])[1 + (g / 10) %% 7] end",
    "error_class": "case when g %% 10 = 3 then (array['tool_error', 'caller_error',"
    " 'server_error', 'transport_error', 'transport_error', 'server_error',"
    " 'server_error'])[1 + (g / 10) %% 7] end",
    "user_id": _USER,
    "session_id": _SESSION,
    "response_size_bytes": "case when g %% 7 = 0 then null else (random() * 20000)::integer end",
    "timestamp": _WHEN,
    # clients on both protocol eras, over both transports; one call in nine says nothing
    "client_name": "case when g %% 9 <> 0 then (array['claude-code', 'cursor', 'vscode'])"
    "[1 + g %% 3] end",
    "client_version": "case when g %% 9 <> 0 then '1.' || (g %% 4) end",
    "protocol_version": "case when g %% 9 <> 0 then (array['2025-06-18', '2025-11-25',"
    " '2026-07-28'])[1 + (g / 3) %% 3] end",
    "transport": "case when g %% 9 <> 0 then (array['pipe', 'tcp'])[1 + g %% 2] end",
}
_REQUESTS = {
    "request_id": "%(tag)s::text || '-req-' || g",
    "method": "(array['GET', 'POST'])[1 + g %% 2]",
    "path": "(array['/mcp', '/health', '/tools/call'])[1 + g %% 3]",
    "response_status_code": "(array[200, 200, 201, 204, 302, 400, 404, 500, 503, 101])"
    "[1 + g %% 10]",
    "duration_ms": "(exp(random() * 8))::integer",
    "queue_time_ms": "(random() * 40)::integer",
    "processing_time_ms": "(random() * 500)::integer",
    "success": "g %% 10 < 5",
    "error_type": "case when g %% 10 >= 5 then"
    " (array['timeout', 'validation', 'internal'])[1 + g %% 3] end",
    "user_id": _USER,
    "session_id": _SESSION,
    "response_size_bytes": "(random() * 5000)::integer",
    "timestamp": _WHEN,
}
_ERRORS = {
    "level": "(array['warn', 'error', 'fatal']::error_level_enum[])[1 + g %% 3]",
    "message": "'synthetic error ' || g",
    "error_code": "case when g %% 6 = 0 then null else 'E' || (g %% 5) end",
    "category": "(array['database', 'validation', 'external_api', null])[1 + g %% 4]",
    "severity": "1 + g %% 5",
    "user_id": _USER,
    "session_id": _SESSION,
    "resolved": "g %% 4 = 0",
    "timestamp": _WHEN,
}
_METRICS = {
    "metric_name": "'metric_' || (g %% 3)",
    "metric_value": "round((random() * 1000)::numeric, 4)",
    "labels": "jsonb_build_object('tag', %(tag)s::text, 'g', g)",
    "timestamp": _WHEN,
    "aggregation_period": "(array['1m', '5m', '1h', '1d', '1w'])[1 + g %% 5]",
}


@dataclass(frozen=True)
class Shape:
    """How many distinct values the generated rows take: `users` users (made when missing,
    named `<user_prefix><n>`), `bcps` BCPs, `tools` tools per BCP name, `sessions` sessions."""

    users: int = 12
    bcps: int = 3
    tools: int = 4
    sessions: int = 40
    user_prefix: str = "synthetic_user_"


def load_synthetic(
    conn: psycopg.Connection,
    *,
    start: datetime,
    hours: float,
    calls: int = 1500,
    requests: int = 1000,
    errors: int = 200,
    metrics: int = 400,
    seed: float = 0.42,
    tag: str = "base",
    shape: Shape = Shape(),
) -> None:
    """Insert `calls` tool calls, `requests` requests, `errors` error logs and `metrics`
    metric samples at instants spread uniformly over [start, start + hours), in one
    transaction (a savepoint when one is open). `seed` (-1 to 1) makes `random()` repeatable;
    `tag` prefixes the ids, so loads with different tags never collide.

    Raises:
        psycopg.Error: the database refused the rows (a tag already loaded: unique keys).
    """
    params: dict[str, Any] = {
        "tag": tag,
        "start": start,
        "span": f"{hours} hours",
        "users": shape.users,
        "bcps": shape.bcps,
        "tools": shape.tools,
        "sessions": shape.sessions,
        "user_prefix": f"{shape.user_prefix}%",
    }
    with conn.transaction():
        conn.execute(
            "insert into users (username, password_hash) "
            "select %s || g, 'not-a-hash' from generate_series(1, %s) as g "
            "on conflict do nothing",
            (shape.user_prefix, shape.users),
        )
        conn.execute("select setseed(%s)", (seed,))
        for table, exprs, n in (
            ("tool_usage_logs", _TOOL_CALLS, calls),
            ("mcp_request_logs", _REQUESTS, requests),
            ("error_logs", _ERRORS, errors),
            ("performance_metrics", _METRICS, metrics),
        ):
            _insert_series(conn, table, exprs, n, params)


def _insert_series(
    conn: psycopg.Connection, table: str, exprs: Mapping[str, str], n: int, params: dict
) -> None:
    """`insert into table (columns) select expressions from generate_series(1, n) as g`."""
    query = sql.SQL("insert into {} ({}) select {} from generate_series(1, %(n)s) as g").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in exprs),
        sql.SQL(", ").join(sql.SQL(e) for e in exprs.values()),
    )
    conn.execute(query, {**params, "n": n})

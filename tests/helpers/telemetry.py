"""A little telemetry: the smallest valid tool call event, and rows at known instants (the
orchestration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from mcp_analytics.warehouse.tables import partitioned_tables

TOOLS = ("search", "fetch", "summarise")

#: The smallest valid tool_usage_logs event (every required field), for the ingest tests.
MINIMAL_TOOL_CALL = {
    "execution_id": "e",
    "bcp_name": "b",
    "tool_name": "t",
    "operation": "o",
    "success": True,
    "duration_ms": 1,
}


def insert_telemetry(
    url: str, *, hours: int = 6, per_hour: int = 20, end: datetime | None = None
) -> int:
    """Insert `hours` x `per_hour` rows in each raw table, ending at `end` (default: now).

    Recent rows (no `end`) have their monthly partitions, as in a warehouse that has run for a
    while: on the first hours of a month they reach back into the previous month, whose
    partition a database bootstrapped today lacks (bootstrap creates this month onwards), so
    they would wait in DEFAULT. An explicit `end` leaves the partitions as the test made them.
    """
    recent = end is None
    end = end or datetime.now(UTC)
    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        if recent and (end - timedelta(hours=hours)).month != end.month:
            for table in partitioned_tables():
                conn.execute("select create_monthly_partitions(%s, 0, 1)", (table.qualified_name,))
        for h in range(hours):
            for i in range(per_hour):
                ts = end - timedelta(hours=h, minutes=i * 2 + 1)
                key = f"{ts.timestamp():.0f}-{h}-{i}"
                conn.execute(
                    "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
                    ' duration_ms, success, session_id, request_id, "timestamp", parameters)'
                    " values (%s, 'bcp', %s, 'call', %s, %s, %s, %s, %s, '{\"q\": 1}')",
                    (
                        f"exec-{key}",
                        TOOLS[i % 3],
                        10 + i * 7,
                        i % 5 != 0,
                        f"s{h}",
                        f"req-{key}",
                        ts,
                    ),
                )
                conn.execute(
                    "insert into mcp_request_logs (request_id, method, path, response_status_code,"
                    ' duration_ms, success, "timestamp", ip_address)'
                    " values (%s, 'POST', '/mcp', %s, %s, %s, %s, '10.0.0.1')",
                    (f"req-{key}", 200 if i % 5 else 500, 5 + i, i % 5 != 0, ts),
                )
                conn.execute(
                    'insert into performance_metrics (metric_name, metric_value, "timestamp",'
                    " aggregation_period, labels) values ('latency_ms', %s, %s, '1m', %s)",
                    (1.5 * i, ts, f'{{"i": {i}}}'),
                )
                if i % 4 == 0:
                    conn.execute(
                        'insert into error_logs (level, message, "timestamp", category, severity,'
                        " error_code) values ('error', 'boom', %s, 'database', 3, 'E1')",
                        (ts,),
                    )
                rows += 1
    return rows

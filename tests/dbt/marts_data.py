"""Small synthetic telemetry for the dbt tests, generated in SQL (deterministic per seed)."""

from __future__ import annotations

from datetime import datetime

import psycopg


def ensure_users(conn: psycopg.Connection, n: int = 12) -> None:
    conn.execute(
        "insert into users (username, password_hash) "
        "select 'dbt_test_user_' || g, 'not-a-hash' from generate_series(1, %s) as g "
        "on conflict do nothing",
        (n,),
    )


def load_telemetry(
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
) -> None:
    """Rows spread uniformly over [start, start + hours), with skewed latencies."""
    ensure_users(conn)
    span = f"{hours} hours"
    with conn.transaction():
        conn.execute("select setseed(%s)", (seed,))
        conn.execute(
            """
            insert into tool_usage_logs (
                execution_id, bcp_name, tool_name, operation, duration_ms, success, user_id,
                session_id, response_size_bytes, "timestamp"
            )
            select
                %(tag)s::text || '-call-' || g,
                'bcp_' || (g %% 3),
                'tool_' || (g %% 4),
                case when g %% 5 = 0 then 'write' else 'read' end,
                -- log-normal-ish: many fast calls, a long tail
                (exp(random() * 9))::integer,
                random() > 0.1,
                (select min(id) from users) + (g %% 12),
                'session_' || (g %% 40),
                case when g %% 7 = 0 then null else (random() * 20000)::integer end,
                %(start)s::timestamptz + random() * %(span)s::interval
            from generate_series(1, %(n)s) as g
            """,
            {"tag": tag, "start": start, "span": span, "n": calls},
        )
        conn.execute(
            """
            insert into mcp_request_logs (
                request_id, method, path, response_status_code, duration_ms, queue_time_ms,
                processing_time_ms, success, error_type, user_id, session_id,
                response_size_bytes, "timestamp"
            )
            select
                %(tag)s::text || '-req-' || g,
                (array['GET', 'POST'])[1 + g %% 2],
                (array['/mcp', '/health', '/tools/call'])[1 + g %% 3],
                (array[200, 200, 201, 204, 302, 400, 404, 500, 503, 101])[1 + g %% 10],
                (exp(random() * 8))::integer,
                (random() * 40)::integer,
                (random() * 500)::integer,
                g %% 10 < 5,
                case
                    when g %% 10 >= 5 then (array['timeout', 'validation', 'internal'])[1 + g %% 3]
                end,
                (select min(id) from users) + (g %% 12),
                'session_' || (g %% 25),
                (random() * 5000)::integer,
                %(start)s::timestamptz + random() * %(span)s::interval
            from generate_series(1, %(n)s) as g
            """,
            {"tag": tag, "start": start, "span": span, "n": requests},
        )
        conn.execute(
            """
            insert into error_logs (
                level, message, error_code, category, severity, user_id, session_id, resolved,
                "timestamp"
            )
            select
                (array['warn', 'error', 'fatal']::error_level_enum[])[1 + g %% 3],
                'synthetic error ' || g,
                case when g %% 6 = 0 then null else 'E' || (g %% 5) end,
                (array['database', 'validation', 'external_api', null])[1 + g %% 4],
                1 + g %% 5,
                (select min(id) from users) + (g %% 12),
                'session_' || (g %% 9),
                g %% 4 = 0,
                %(start)s::timestamptz + random() * %(span)s::interval
            from generate_series(1, %(n)s) as g
            """,
            {"start": start, "span": span, "n": errors},
        )
        conn.execute(
            """
            insert into performance_metrics (
                metric_name, metric_value, labels, "timestamp", aggregation_period
            )
            select
                'metric_' || (g %% 3),
                round((random() * 1000)::numeric, 4),
                jsonb_build_object('tag', %(tag)s::text, 'g', g),
                %(start)s::timestamptz + random() * %(span)s::interval,
                (array['1m', '5m', '1h', '1d', '1w'])[1 + g %% 5]
            from generate_series(1, %(n)s) as g
            """,
            {"tag": tag, "start": start, "span": span, "n": metrics},
        )

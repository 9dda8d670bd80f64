"""Reference results for the marts, recomputed from the raw rows.

The seed's three summaries are recomputed with the seed's own view definitions, read back from
the materialized views of bootstrap_sql/009 (pg_get_viewdef) with their 30/90/7-day window
replaced by "timestamp is not null": the marts keep the whole history. Sessions run in UTC, the
time zone the marts bucket in.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

SEED_MARTS = ("hourly_tool_usage_summary", "daily_error_summary", "performance_metrics_summary")

_WINDOW = re.compile(
    r"WHERE \((?:\w+\.)?\"timestamp\" >= \(CURRENT_DATE - '\d+ days'::interval\)\)", re.I
)


def seed_view_sql(conn: psycopg.Connection, view: str) -> str:
    """The seed's definition of `view` over the whole history."""
    definition = conn.execute(
        "select pg_get_viewdef(%s::regclass)", (f"public.{view}",)
    ).fetchone()[0]
    whole_history, count = _WINDOW.subn('WHERE ("timestamp" IS NOT NULL)', definition)
    assert count == 1, f"window clause not found in the seed's {view}: {definition}"
    return whole_history.rstrip().rstrip(";")


def seed_columns(conn: psycopg.Connection, view: str) -> list[str]:
    rows = conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
        "and not attisdropped order by attnum",
        (f"public.{view}",),
    ).fetchall()
    return [r[0] for r in rows]


def diff_rows(conn: psycopg.Connection, mart_sql: str, reference_sql: str) -> tuple[int, int]:
    """(rows only in the mart, rows only in the reference), with duplicates counted."""
    query = sql.SQL(
        "select (select count(*) from (({mart}) except all ({ref})) as only_mart), "
        "(select count(*) from (({ref}) except all ({mart})) as only_ref)"
    ).format(mart=sql.SQL(mart_sql), ref=sql.SQL(reference_sql))
    conn.execute("set timezone = 'UTC'")
    only_mart, only_ref = conn.execute(query).fetchone()
    return only_mart, only_ref


def seed_mart_diff(conn: psycopg.Connection, mart: str) -> tuple[int, int]:
    """Compare analytics.<mart> with the seed's view definition on the seed's columns."""
    conn.execute("set timezone = 'UTC'")
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in seed_columns(conn, mart))
    mart_sql = sql.SQL("select {} from analytics.{}").format(columns, sql.Identifier(mart))
    return diff_rows(conn, mart_sql.as_string(conn), seed_view_sql(conn, mart))


# The request summary's status classes and exact percentiles, one column each
STATUS_COUNTS = ",\n".join(
    f"count(*) filter (where response_status_code / 100 = {digit}) as status_{digit}xx_count"
    for digit in (2, 3, 4, 5)
)
PERCENTILES = ",\n".join(
    f"percentile_cont({quantile}) within group (order by duration_ms)::integer as {name}"
    for name, quantile in (
        ("median_duration_ms", 0.5),
        ("p95_duration_ms", 0.95),
        ("p99_duration_ms", 0.99),
    )
)

# The request summary has no seed view: this is its definition, straight from the raw table.
REQUEST_REFERENCE = f"""
with per_group as (
    select
        date_trunc('hour', "timestamp") as hour, method, path,
        count(*) as total_requests,
        count(*) filter (where success) as successful_requests,
        count(*) filter (where not success) as failed_requests,
        {STATUS_COUNTS},
        count(*) filter (where response_status_code not between 200 and 599)
            as status_other_count,
        avg(duration_ms)::integer as avg_duration_ms,
        {PERCENTILES},
        max(duration_ms) as max_duration_ms,
        min(duration_ms) as min_duration_ms,
        avg(queue_time_ms)::integer as avg_queue_time_ms,
        avg(processing_time_ms)::integer as avg_processing_time_ms,
        sum(response_size_bytes) as total_response_bytes,
        count(distinct user_id) as unique_users,
        count(distinct session_id) as unique_sessions
    from mcp_request_logs
    where "timestamp" is not null
    group by 1, 2, 3
),
per_error as (
    select hour, method, path, jsonb_object_agg(error_type, n) as error_type_counts
    from (
        select date_trunc('hour', "timestamp") as hour, method, path, error_type, count(*) as n
        from mcp_request_logs
        where "timestamp" is not null and error_type is not null
        group by 1, 2, 3, 4
    ) as e
    group by 1, 2, 3
)
select
    g.hour, g.method, g.path, total_requests, successful_requests, failed_requests,
    status_2xx_count, status_3xx_count, status_4xx_count, status_5xx_count, status_other_count,
    coalesce(e.error_type_counts, '{{}}'::jsonb) as error_type_counts,
    avg_duration_ms, median_duration_ms, p95_duration_ms, p99_duration_ms, max_duration_ms,
    min_duration_ms, avg_queue_time_ms, avg_processing_time_ms, total_response_bytes,
    unique_users, unique_sessions
from per_group as g
left join per_error as e on g.hour = e.hour and g.method = e.method and g.path = e.path
"""

REQUEST_COLUMNS = (
    "hour, method, path, total_requests, successful_requests, failed_requests, status_2xx_count, "
    "status_3xx_count, status_4xx_count, status_5xx_count, status_other_count, error_type_counts, "
    "avg_duration_ms, median_duration_ms, p95_duration_ms, p99_duration_ms, max_duration_ms, "
    "min_duration_ms, avg_queue_time_ms, avg_processing_time_ms, total_response_bytes, "
    "unique_users, unique_sessions"
)

# Tool calls with their error class as the marts read it: stored at ingest, else the same
# rule in SQL (bootstrap_sql/080) for rows written around the ingest path.
CLASSIFIED_CALLS = """
select
    "timestamp", bcp_name, tool_name, operation, success, duration_ms, response_size_bytes,
    user_id, session_id, coalesce(error_class, mcp_error_class(success, error_code)) as error_class
from tool_usage_logs
"""

ERROR_CLASS_COUNTS = """
    count(*) filter (where error_class = 'tool_error') as tool_error_calls,
    count(*) filter (where error_class = 'caller_error') as caller_error_calls,
    count(*) filter (where error_class = 'server_error') as server_error_calls,
    count(*) filter (where error_class = 'transport_error') as transport_error_calls
"""

ERROR_CLASS_COLUMNS = (
    "tool_error_calls, caller_error_calls, server_error_calls, transport_error_calls"
)

# The hourly tool summary's error classes (the seed's view has no such columns).
HOURLY_CLASS_REFERENCE = f"""
select date_trunc('hour', "timestamp") as hour, bcp_name, tool_name, operation,
    {ERROR_CLASS_COUNTS}
from ({CLASSIFIED_CALLS}) as calls
where "timestamp" is not null
group by 1, 2, 3, 4
"""

# The daily tool summary: everything but the percentiles is exact against the raw rows.
DAILY_TOOL_REFERENCE = f"""
select
    date_trunc('day', "timestamp") as day, bcp_name, tool_name, operation,
    count(*) as total_calls,
    count(*) filter (where success) as successful_calls,
    count(*) filter (where not success) as failed_calls,
    {ERROR_CLASS_COUNTS},
    avg(duration_ms)::integer as avg_duration_ms,
    max(duration_ms) as max_duration_ms,
    min(duration_ms) as min_duration_ms,
    avg(response_size_bytes)::integer as avg_response_size,
    count(distinct user_id) as unique_users,
    count(distinct session_id) as unique_sessions
from ({CLASSIFIED_CALLS}) as calls
where "timestamp" is not null
group by 1, 2, 3, 4
"""

DAILY_TOOL_COLUMNS = (
    "day, bcp_name, tool_name, operation, total_calls, successful_calls, failed_calls, "
    f"{ERROR_CLASS_COLUMNS}, avg_duration_ms, max_duration_ms, min_duration_ms, "
    "avg_response_size, unique_users, unique_sessions"
)


def all_mart_diffs(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """Every mart against its reference: {mart: (only in mart, only in reference)}."""
    diffs = {mart: seed_mart_diff(conn, mart) for mart in SEED_MARTS}
    diffs["hourly_request_summary"] = diff_rows(
        conn,
        f"select {REQUEST_COLUMNS} from analytics.hourly_request_summary",
        REQUEST_REFERENCE,
    )
    diffs["hourly_tool_usage_summary (error classes)"] = diff_rows(
        conn,
        "select hour, bcp_name, tool_name, operation, "
        f"{ERROR_CLASS_COLUMNS} from analytics.hourly_tool_usage_summary",
        HOURLY_CLASS_REFERENCE,
    )
    diffs["daily_tool_usage_summary"] = diff_rows(
        conn,
        f"select {DAILY_TOOL_COLUMNS} from analytics.daily_tool_usage_summary",
        DAILY_TOOL_REFERENCE,
    )
    return diffs

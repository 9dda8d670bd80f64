"""The MCP-aware marts recomputed from the raw rows, written independently of the models
(joins where the models use window frames, raw rows where they use the daily summary)."""

from __future__ import annotations

from tests.dbt.marts_reference import diff_rows

__all__ = [
    "diff_rows",
    "BUDGET_COLUMNS",
    "BUDGET_REFERENCE",
    "CLIENT_COLUMNS",
    "CLIENT_REFERENCE",
]

# Tool calls with the class the marts read (stored, else the same rule in SQL).
CLASSIFIED = """
select
    date_trunc('day', "timestamp", 'UTC') as day, date_trunc('hour', "timestamp", 'UTC') as hour,
    "timestamp", bcp_name, tool_name, operation, duration_ms, tool_version, client_name,
    client_version, protocol_version, transport, session_id, ip_address, user_agent,
    coalesce(error_class, mcp_error_class(success, error_code)) as error_class
from tool_usage_logs
where "timestamp" is not null
"""

BUDGET_COLUMNS = (
    "day, bcp_name, tool_name, total_calls, caller_error_calls, tool_error_calls, "
    "server_error_calls, transport_error_calls, eligible_calls, budget_error_calls, error_rate, "
    "slo_target, window_days, window_eligible_calls, window_error_calls, window_error_rate, "
    "allowed_error_calls, budget_remaining, is_budget_exhausted"
)

BUDGET_REFERENCE = f"""
with per_day as (
    select day, bcp_name, tool_name,
        count(*) as total_calls,
        count(*) filter (where error_class = 'caller_error') as caller_error_calls,
        count(*) filter (where error_class = 'tool_error') as tool_error_calls,
        count(*) filter (where error_class = 'server_error') as server_error_calls,
        count(*) filter (where error_class = 'transport_error') as transport_error_calls
    from ({CLASSIFIED}) as calls
    group by 1, 2, 3
),
budget as (
    select *, total_calls - caller_error_calls as eligible_calls,
        tool_error_calls + server_error_calls + transport_error_calls as budget_error_calls,
        mcp_slo_target(bcp_name, tool_name) as slo_target
    from per_day
),
windows as (
    select b.day, b.bcp_name, b.tool_name,
        sum(w.eligible_calls) as window_eligible_calls,
        sum(w.budget_error_calls) as window_error_calls
    from budget as b
    join budget as w
        on w.bcp_name = b.bcp_name and w.tool_name = b.tool_name
        and w.day between b.day - interval '27 days' and b.day
    group by 1, 2, 3
)
select b.day, b.bcp_name, b.tool_name, b.total_calls, b.caller_error_calls, b.tool_error_calls,
    b.server_error_calls, b.transport_error_calls, b.eligible_calls, b.budget_error_calls,
    round(b.budget_error_calls::numeric / nullif(b.eligible_calls, 0), 6) as error_rate,
    b.slo_target, 28 as window_days, w.window_eligible_calls::bigint,
    w.window_error_calls::bigint,
    round(w.window_error_calls / nullif(w.window_eligible_calls, 0), 6) as window_error_rate,
    round((1 - b.slo_target) * w.window_eligible_calls, 2) as allowed_error_calls,
    round(1 - w.window_error_calls / nullif((1 - b.slo_target) * w.window_eligible_calls, 0), 6)
        as budget_remaining,
    w.window_error_calls > (1 - b.slo_target) * w.window_eligible_calls as is_budget_exhausted
from budget as b
join windows as w using (day, bcp_name, tool_name)
"""

CLIENT_COLUMNS = (
    "day, bcp_name, client_name, client_version, protocol_version, transport, "
    "is_pre_2026_07_28_protocol, total_calls, successful_calls, failed_calls, tool_error_calls, "
    "caller_error_calls, server_error_calls, transport_error_calls, avg_duration_ms, "
    "p95_duration_ms, unique_sessions, first_seen_at, last_seen_at"
)

CLIENT_REFERENCE = f"""
select day, bcp_name, client_name, client_version, protocol_version, transport,
    protocol_version < '2026-07-28',
    count(*), count(*) filter (where error_class = 'ok'),
    count(*) filter (where error_class <> 'ok'),
    count(*) filter (where error_class = 'tool_error'),
    count(*) filter (where error_class = 'caller_error'),
    count(*) filter (where error_class = 'server_error'),
    count(*) filter (where error_class = 'transport_error'),
    avg(duration_ms)::integer,
    percentile_cont(0.95) within group (order by duration_ms)::integer,
    count(distinct session_id), min("timestamp"), max("timestamp")
from ({CLASSIFIED}) as calls
group by 1, 2, 3, 4, 5, 6
"""

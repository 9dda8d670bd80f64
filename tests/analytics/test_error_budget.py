"""analytics.tool_error_budget against a recomputation from raw rows: after a 35-day load,
late rows (which change the 27 windows after them), a new day, a changed SLO target; and
constructed budgets with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.db import set_config

from .reference import BUDGET_COLUMNS, BUDGET_REFERENCE
from .warehouse import Warehouse

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.replace(hour=0)
MART = f"select {BUDGET_COLUMNS} from analytics.tool_error_budget"


def _exact(wh: Warehouse) -> None:
    assert wh.diff(MART, BUDGET_REFERENCE) == (0, 0)


def _refreshed(wh: Warehouse) -> dict[tuple, datetime]:
    return {
        (d, b, t): r
        for d, b, t, r in wh.rows(
            "select day, bcp_name, tool_name, refreshed_at from analytics.tool_error_budget"
        )
    }


@pytest.fixture(scope="module")
def loaded(warehouse: Warehouse) -> Warehouse:
    with warehouse.connect() as conn:
        load_synthetic(conn, start=TODAY - timedelta(days=35), hours=35 * 24, calls=6000, seed=0.3)
    warehouse.build("tool_error_budget")
    return warehouse


def test_a_full_build_equals_the_recomputation(loaded: Warehouse) -> None:
    _exact(loaded)
    days = loaded.scalar("select count(distinct day) from analytics.tool_error_budget")
    assert days >= 35
    # every class occurs, and budgets are both left and overspent somewhere
    assert loaded.scalar(
        "select bool_and(s > 0) from (select sum(tool_error_calls) + 0 as s from"
        " analytics.tool_error_budget union all select sum(caller_error_calls)"
        " from analytics.tool_error_budget union all select sum(transport_error_calls)"
        " from analytics.tool_error_budget) as sums"
    )


def test_late_rows_rebuild_the_windows_that_hold_their_day(loaded: Warehouse) -> None:
    before = _refreshed(loaded)
    late_day = TODAY - timedelta(days=20)
    with loaded.connect() as conn:
        load_synthetic(
            conn, start=late_day + timedelta(hours=3), hours=2, calls=300, seed=0.5, tag="late"
        )
    loaded.build("tool_error_budget")
    _exact(loaded)
    after = _refreshed(loaded)
    touched = {key[0] for key in after if after[key] != before.get(key)}
    # the late day and every day after it (each window holds it), nothing before
    assert min(touched) == late_day
    assert touched == {late_day + timedelta(days=n) for n in range(20)}  # up to yesterday


def test_a_changed_slo_target_rebuilds_its_tool(loaded: Warehouse) -> None:
    before = _refreshed(loaded)
    config = {"slo_target": 0.99, "targets": {"bcp_0/tool_0": 0.95, "bcp_1": 0.999}}
    set_config(loaded.url, "analytics.error_budget", config)
    loaded.build("tool_error_budget")
    _exact(loaded)
    targets = dict(
        loaded.rows(
            "select distinct bcp_name || '/' || tool_name, slo_target"
            " from analytics.tool_error_budget"
        )
    )
    assert targets["bcp_0/tool_0"] == Decimal("0.95")
    assert targets["bcp_1/tool_1"] == Decimal("0.999")
    assert targets["bcp_2/tool_2"] == Decimal("0.99")
    # every day holding a tool whose target changed is rebuilt (the ledger had none of them)
    after = _refreshed(loaded)
    assert {d for (d, b, t) in after if after[(d, b, t)] != before[(d, b, t)]} == {
        d for (d, b, t) in after if b == "bcp_1" or (b, t) == ("bcp_0", "tool_0")
    }


def test_a_bad_target_fails_the_build_with_its_key(loaded: Warehouse) -> None:
    with loaded.connect() as conn:
        old = conn.execute(
            "select config_value from system_configuration"
            " where config_key = 'analytics.error_budget'"
        ).fetchone()[0]
        set_config(conn, "analytics.error_budget", {"slo_target": 99})
        try:
            loaded.dbt("run", "--select", "tool_error_budget", expect_ok=False)
            assert "analytics.error_budget: slo_target must be a number between 0 and 1" in (
                loaded.last_output
            )
        finally:
            set_config(conn, "analytics.error_budget", old)
    loaded.build("tool_error_budget")
    _exact(loaded)


def test_a_constructed_budget(loaded: Warehouse) -> None:
    """1,000 calls a day for two days: 50 caller errors a day (left out), 4 server errors and
    1 timeout on the first day, nothing on the second; target 0.99."""
    days = [TODAY - timedelta(days=3), TODAY - timedelta(days=2)]
    with loaded.connect() as conn:
        for n, day in enumerate(days):
            conn.execute(
                """
                insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,
                    duration_ms, success, error_code, error_class, "timestamp")
                select 'budget-' || %(n)s || '-' || g, 'budget-case', 'search', 'tools/call', 5,
                    g > 55 or (%(n)s = 1 and g > 50),
                    case when g <= 50 then '-32602' when g <= 54 then '-32603'
                         when g = 55 then 'TimeoutError' end,
                    case when g <= 50 then 'caller_error'
                         when %(n)s = 1 or g > 55 then 'ok'
                         when g <= 54 then 'server_error' else 'transport_error' end,
                    %(day)s::timestamptz + g * interval '1 second'
                from generate_series(1, 1000) as g
                """,
                {"n": n, "day": day},
            )
    loaded.build("tool_error_budget")
    _exact(loaded)
    got = loaded.rows(
        "select eligible_calls, budget_error_calls, window_eligible_calls, window_error_calls,"
        " allowed_error_calls, budget_remaining, is_budget_exhausted"
        " from analytics.tool_error_budget where bcp_name = 'budget-case' order by day"
    )
    assert [tuple(float(v) if not isinstance(v, bool) else v for v in row) for row in got] == [
        (950, 5, 950, 5, 9.5, round(1 - 5 / 9.5, 6), False),
        (950, 0, 1900, 5, 19.0, round(1 - 5 / 19, 6), False),
    ]

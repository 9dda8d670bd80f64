"""analytics.tool_definition_history and analytics.tool_inventory from real snapshots of a real
MCP server (two versions of its catalog) and tool calls placed around the change: each status,
the before/after windows, what changed; both equal to a recomputation from the raw tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from mcp_analytics.analytics.inventory import fetch, store

from .servers.catalog import NAME, build, serving
from .warehouse import Warehouse

pytestmark = pytest.mark.slow

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST = HOUR - timedelta(days=3, minutes=30)
CHANGE = HOUR - timedelta(days=1, minutes=30)
MARTS = ("tool_inventory", "tool_definition_history")

# calls (tool, hours before now, count, failing share as a code) placed around the change
CALLS = [
    ("search", 100, 40, "-32603"),  # 4 days before: before the change, inside its window
    ("search", 20, 60, None),  # after the change's hour (it is 24.5 hours ago)
    ("search", 2, 20, "-32602"),  # caller errors: left out of the error rate
    ("create_issue", 200, 10, None),  # 8 days ago: advertised, not called in the window
    ("legacy_export", 50, 5, None),  # called, then removed from the catalog
    ("unlisted", 3, 7, "TimeoutError"),  # called, never advertised
]

HISTORY_REFERENCE = """
with v as (
    select v.*, (
        select count(*) from mcp_definition_versions as e
        where e.bcp_name = v.bcp_name and e.kind = v.kind and e.name = v.name
            and (e.first_seen_at, e.first_snapshot_id) <= (v.first_seen_at, v.first_snapshot_id)
    ) as version_number
    from mcp_definition_versions as v
)
select v.bcp_name, v.kind, v.name, v.version_number, v.fingerprint, p.fingerprint,
    case when p.fingerprint is null then 'added' when p.fingerprint <> v.fingerprint
        then 'changed' else 'returned' end,
    case when p.fingerprint is null then '{}' else coalesce((
        select array_agg(k order by k) from (
            select jsonb_object_keys(v.definition) as k
            union select jsonb_object_keys(p.definition)
        ) as keys where v.definition -> k is distinct from p.definition -> k
    ), '{}') end,
    v.first_seen_at, v.last_seen_at, v.times_seen,
    v.last_snapshot_id = (
        select id from mcp_inventory_snapshots as s where s.bcp_name = v.bcp_name
            and s.error is null order by taken_at desc, id desc limit 1
    ),
    v.definition ->> 'description', v.definition
from v
left join v as p
    on p.bcp_name = v.bcp_name and p.kind = v.kind and p.name = v.name
    and p.version_number = v.version_number - 1
"""

HISTORY_COLUMNS = (
    "bcp_name, kind, definition_name, version_number, fingerprint, previous_fingerprint, "
    "change_kind, changed_fields, first_seen_at, last_seen_at, times_seen, is_current, "
    "description, definition"
)


def _insert_calls(wh: Warehouse, calls: list[tuple[str, int, int, str | None]], tag: str) -> None:
    with wh.connect() as conn:
        for tool, hours_ago, n, code in calls:
            conn.execute(
                """
                insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,
                    duration_ms, success, error_code, "timestamp")
                select %(tag)s || %(tool)s || %(h)s || '-' || g, %(bcp)s, %(tool)s,
                    'tools/call', 10 + g, %(code)s::text is null or g %% 2 = 0,
                    case when g %% 2 = 1 then %(code)s end,
                    %(at)s::timestamptz + g * interval '1 second'
                from generate_series(1, %(n)s) as g
                """,
                {
                    "tag": tag, "tool": tool, "h": hours_ago, "bcp": NAME, "code": code,
                    "n": n, "at": HOUR - timedelta(hours=hours_ago) + timedelta(minutes=5),
                },
            )  # fmt: skip


@pytest.fixture(scope="module")
def inventoried(warehouse: Warehouse) -> Warehouse:
    with serving(build("1.0.0")) as url:
        first = fetch(url)
    with serving(build("1.1.0", changed=True)) as url:
        second = fetch(url)
    with warehouse.connect() as conn:
        store(conn, first, source="cli", endpoint="test", taken_at=FIRST - timedelta(hours=1))
        store(conn, first, source="cli", endpoint="test", taken_at=FIRST)
        store(conn, second, source="schedule", endpoint="test", taken_at=CHANGE)
        # a failed snapshot later on changes nothing: the latest *successful* one counts
        store(conn, None, source="schedule", endpoint="test", error="refused")
    _insert_calls(warehouse, CALLS, "a")
    _insert_mcp_methods(warehouse)
    warehouse.build(*MARTS)
    return warehouse


#: MCP methods without a slash: their spans (OTLP) carry the method as operation and tool name
MCP_METHODS = ("initialize", "ping")


def _insert_mcp_methods(wh: Warehouse) -> None:
    with wh.connect() as conn:
        conn.execute(
            """
            insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,
                duration_ms, success, "timestamp")
            select 'm-' || method, %s, method, method, 3, true, %s
            from unnest(%s::text[]) as method
            """,
            (NAME, HOUR - timedelta(hours=1), list(MCP_METHODS)),
        )


def test_the_history_lists_each_version_and_what_changed(inventoried: Warehouse) -> None:
    assert inventoried.diff(
        f"select {HISTORY_COLUMNS} from analytics.tool_definition_history", HISTORY_REFERENCE
    ) == (0, 0)
    rows = {
        (name, n): (change, fields, current, seen)
        for name, n, change, fields, current, seen in inventoried.rows(
            "select definition_name, version_number, change_kind, changed_fields, is_current,"
            " times_seen from analytics.tool_definition_history where kind = 'tool'"
        )
    }
    assert rows == {
        ("search", 1): ("added", [], False, 2),
        ("search", 2): ("changed", ["description", "inputSchema"], True, 1),
        ("legacy_export", 1): ("added", [], False, 2),
        ("create_issue", 1): ("added", [], True, 3),
        ("archive", 1): ("added", [], True, 1),
    }


def test_the_inventory_gives_each_status_and_the_change_windows(inventoried: Warehouse) -> None:
    rows = {
        r[0]: r[1:]
        for r in inventoried.rows(
            "select tool_name, status, calls_last_7_days, error_calls_last_7_days,"
            " calls_before_change, error_rate_before_change, calls_after_change,"
            " error_rate_after_change, latest_change_at is not null from analytics.tool_inventory"
        )
    }
    assert {t: r[0] for t, r in rows.items()} == {
        "search": "called",
        "create_issue": "never_called",
        "archive": "never_called",
        "legacy_export": "not_advertised",
        "unlisted": "not_advertised",
    }
    # search: 40 + 60 + 20 calls in the window; 20 server errors (odd of 40) and 10 caller
    # errors (odd of 20, left out); before the change 40 calls, 20 errors of 40 eligible;
    # after it 80 calls, no server fault among the 70 eligible
    assert rows["search"][1:] == (120, 20, 40, 0.5, 80, 0.0, True)
    assert rows["unlisted"][1:3] == (7, 4)
    assert rows["create_issue"][1] == 0 and rows["create_issue"][-1] is False


def test_the_inventory_equals_a_recomputation_from_raw_rows(inventoried: Warehouse) -> None:
    as_of = inventoried.scalar("select max(as_of) from analytics.tool_inventory")
    reference = f"""
    with latest as (
        select distinct on (bcp_name) bcp_name, id, taken_at from mcp_inventory_snapshots
        where error is null order by bcp_name, taken_at desc, id desc
    ),
    advertised as (
        select v.bcp_name, v.name as tool_name, v.fingerprint
        from mcp_definition_versions as v join latest on latest.bcp_name = v.bcp_name
            and v.last_snapshot_id = latest.id
        where v.kind = 'tool'
    ),
    calls as (
        select bcp_name, tool_name, "timestamp",
            coalesce(error_class, mcp_error_class(success, error_code)) as error_class
        from tool_usage_logs
        where bcp_name in (select bcp_name from latest)
            and (operation = 'tools/call'
                or (operation not like '%%/%%' and operation not in ('initialize', 'ping')))
    ),
    recent as (
        select bcp_name, tool_name, count(*) as n,
            count(*) filter (where error_class in
                ('tool_error', 'server_error', 'transport_error')) as e
        from calls where "timestamp" >= timestamptz '{as_of.isoformat()}' - interval '167 hours'
        group by 1, 2
    )
    select coalesce(a.bcp_name, r.bcp_name), coalesce(a.tool_name, r.tool_name),
        case when a.tool_name is null then 'not_advertised'
             when coalesce(r.n, 0) > 0 then 'called' else 'never_called' end,
        coalesce(r.n, 0), coalesce(r.e, 0),
        (select max("timestamp") from calls as c where c.bcp_name = coalesce(a.bcp_name, r.bcp_name)
            and c.tool_name = coalesce(a.tool_name, r.tool_name)),
        a.fingerprint
    from advertised as a full join recent as r using (bcp_name, tool_name)
    """
    mart = (
        "select bcp_name, tool_name, status, calls_last_7_days, error_calls_last_7_days,"
        " last_called_at, current_fingerprint from analytics.tool_inventory"
    )
    assert inventoried.diff(mart, reference) == (0, 0)


def test_mcp_methods_are_not_tools(inventoried: Warehouse) -> None:
    methods = list(MCP_METHODS)
    raw = "select count(*) from tool_usage_logs where operation = any(%s)"
    assert inventoried.scalar(raw, (methods,)) == len(methods)
    listed = "select count(*) from analytics.tool_inventory where tool_name = any(%s)"
    assert inventoried.scalar(listed, (methods,)) == 0


def test_every_run_rebuilds_the_inventory(inventoried: Warehouse) -> None:
    _insert_calls(inventoried, [("archive", 0, 3, None)], "b")
    inventoried.build(*MARTS)
    status = inventoried.scalar(
        "select status from analytics.tool_inventory where tool_name = 'archive'"
    )
    assert status == "called"


def test_a_snapshot_between_build_and_test_does_not_fail_the_tests(
    inventoried: Warehouse,
) -> None:
    """`dbt build` rebuilds the marts, then tests them: a snapshot recorded in between (here
    the catalog changed back, so new versions open and unchanged ones are extended) is not
    what the marts read, and their exactness tests compare only against the snapshots they
    did read. A wrong mart row still fails them."""
    tests = ("assert_tool_definition_history_matches_raw", "assert_tool_inventory_matches_raw")
    inventoried.build(*MARTS)
    versions_before = inventoried.scalar("select count(*) from mcp_definition_versions")
    with serving(build("1.0.0")) as url:
        again = fetch(url)
    with inventoried.connect() as conn:
        store(conn, again, source="schedule", endpoint="test")
    # the race is real: the raw tables moved on after the rebuild (new and extended versions)
    assert inventoried.scalar("select count(*) from mcp_definition_versions") > versions_before
    assert (
        inventoried.scalar(
            "select count(*) from mcp_definition_versions as v"
            " where v.last_snapshot_id = (select max(id) from mcp_inventory_snapshots)"
            " and v.first_snapshot_id < v.last_snapshot_id"
        )
        > 0
    )
    inventoried.dbt("test", "--select", *tests)

    with inventoried.connect() as conn:
        conn.execute(
            "update analytics.tool_definition_history set times_seen = times_seen + 1"
            " where ctid = (select ctid from analytics.tool_definition_history"
            " where not is_current limit 1)"
        )
        conn.execute(
            "update analytics.tool_inventory set current_fingerprint = repeat('0', 64)"
            " where status = 'called'"
        )
    for test in tests:
        inventoried.dbt("test", "--select", test, expect_ok=False)
        assert re.search(r"Got \d+ results?", inventoried.last_output), test

    # the next build reads the new snapshot and both tests pass on it
    inventoried.build(*MARTS)


def test_a_build_checks_the_week_against_the_hourly_summary(inventoried: Warehouse) -> None:
    """A build's inventory check adds up hourly_tool_usage_summary's hours (each compared with
    its raw rows by that mart's own check), the daily whole-history check counts the raw calls:
    a wrong 7-day count fails both; an inventory built from an hour that differs from its raw
    rows passes the former and fails the latter."""
    check = ("test", "--select", "assert_tool_inventory_matches_raw")
    full = ("--vars", "{mart_exactness_scope: full}")
    inventoried.build(*MARTS)
    with inventoried.connect() as conn:
        conn.execute(
            "update analytics.tool_inventory set calls_last_7_days = calls_last_7_days + 1"
            " where tool_name = 'search'"
        )
    for scope in ((), full):
        inventoried.dbt(*check, *scope, expect_ok=False)
        assert "Got 2 results" in inventoried.last_output

    wrong_hour = (
        "update analytics.hourly_tool_usage_summary set total_calls = total_calls + %s"
        " where ctid = (select ctid from analytics.hourly_tool_usage_summary"
        " where tool_name = 'search' and operation = 'tools/call' order by hour desc limit 1)"
    )
    with inventoried.connect() as conn:
        conn.execute(wrong_hour, (3,))
    try:
        inventoried.dbt("run", "--select", "tool_inventory")
        inventoried.dbt(*check)
        inventoried.dbt(*check, *full, expect_ok=False)
        assert "Got 2 results" in inventoried.last_output
    finally:
        with inventoried.connect() as conn:
            conn.execute(wrong_hour, (-3,))
        inventoried.dbt("run", "--select", "tool_inventory")
    inventoried.dbt(*check, *full)

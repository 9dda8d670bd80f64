"""The MCP-aware pages over HTTP against their marts: Clients (client name and version,
protocol version and era, transport, server, each a drill-down filter) from
analytics.daily_client_summary, Inventory and a tool's definitions from analytics.tool_inventory
and tool_definition_history. Real app, real PostgreSQL, marts built by the real dbt, read as a
real mcp_analyst login."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest

from mcp_analytics.dashboard import clients, sessions
from mcp_analytics.dashboard.charts import fmt_int, fmt_ms, fmt_pct, fmt_time
from mcp_analytics.dashboard.windows import parse_window
from tests.dashboard.helpers import MERGED_QUANTILES, keyed_rows, mart_groups, table_rows
from tests.helpers import db

pytestmark = pytest.mark.slow

_SUMS = """
select {key}, sum(total_calls), sum(failed_calls), max(p95_duration_ms), max(last_seen_at),
       count(distinct (client_name, client_version)) filter (where client_name is not null)
from analytics.daily_client_summary
where day >= date_trunc('day', %(start)s::timestamptz, 'UTC') and day < %(end)s {where}
group by {group}
"""


def _sums(conn, key: str | None, window, where: str = "", **params) -> dict:
    """{label of key's value: (calls, errors, max p95, last seen, clients)} from the mart."""
    # key None: the totals of the window (one group)
    query = _SUMS.format(key=key or "null", group=key or "()", where=where)
    rows = conn.execute(query, {"start": window.start, "end": window.end, **params}).fetchall()
    return {clients.label(k): tuple(rest) for k, *rest in rows}


def _client_days(conn, columns: str, window, tail: str = "") -> list[tuple]:
    """`columns` of analytics.daily_client_summary over the days the window touches, then
    `tail` (a group by)."""
    return conn.execute(
        f"select {columns} from analytics.daily_client_summary"
        f" where day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s {tail}",
        (window.start, window.end),
    ).fetchall()


def _expect_table(html: str, table_id: str, expected: dict, calls_col: int = 1) -> None:
    """The table shows one row per group with the mart's calls, errors, p95 and last seen."""
    rows = table_rows(html, table_id)
    got = {attrs["data-key"]: cells for attrs, cells in rows}
    assert got.keys() == expected.keys()
    for key, (calls, errors, p95, last_seen, n_clients) in expected.items():
        cells = got[key]
        assert cells[calls_col] == fmt_int(calls), (table_id, key)
        assert cells[calls_col + 2] == fmt_int(errors), (table_id, key)
        assert cells[calls_col + 5] == str(n_clients), (table_id, key)
        assert cells[calls_col + 6] == fmt_ms(p95), (table_id, key)
        assert cells[calls_col + 7] == fmt_time(last_seen), (table_id, key)


@pytest.mark.parametrize("key", ["24h", "7d", "30d"])
def test_clients_page_equals_the_mart(client_as, analyst_url: str, key: str) -> None:
    reader = client_as("reader")
    window = parse_window({"window": key})
    html = reader.get(f"/clients?window={key}").text
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        (total,) = _sums(conn, None, window).values()
        calls, errors, p95, _, n_clients = total
        (classes,) = _client_days(
            conn,
            "sum(caller_error_calls), sum(total_calls) filter (where is_pre_2026_07_28_protocol)",
            window,
        )
        by_protocol = _sums(conn, "protocol_version", window)
        by_transport = _sums(conn, "transport", window)
        by_server = _sums(conn, "bcp_name", window)
        per_client = _client_days(
            conn,
            "client_name, client_version, sum(total_calls), sum(failed_calls)",
            window,
            "group by 1, 2",
        )
        data = clients.clients(conn, window, clients.ClientFilter())
    assert calls > 0 and len(by_protocol) >= 3 and clients.NONE in by_transport
    caller, pre = classes
    assert data is not None
    assert (data.total.calls, data.total.errors, data.total.max_daily_p95) == (calls, errors, p95)
    assert f'id="kpi-calls"><div class="label">Calls</div><div class="value">{fmt_int(calls)}<' in (
        html
    )
    assert f">{fmt_pct(errors / calls)}<" in html
    assert f">{fmt_pct((errors - caller) / (calls - caller))}<" in html
    assert f">{fmt_pct(pre / calls)}<" in html
    assert f">{n_clients}<" in html
    _expect_table(html, "by-protocol", by_protocol, calls_col=2)
    _expect_table(html, "by-transport", by_transport)
    _expect_table(html, "by-server", by_server)
    got = {
        (attrs["data-client"], attrs["data-version"]): (cells[5], cells[6])
        for attrs, cells in table_rows(html, "by-client")
    }
    assert got == {
        (clients.label(n), clients.label(v)): (fmt_int(c), fmt_int(e)) for n, v, c, e in per_client
    }
    # the charts: one point per day the window touches, per protocol version and transport
    days = len(clients.window_days(window))
    assert sum(sum(v) for v in data.protocol_series.values()) == calls
    assert all(len(v) == days for v in data.transport_series.values())


def test_clients_drill_down_narrows_every_panel(client_as, analyst_url: str) -> None:
    reader = client_as("reader")
    window = parse_window({"window": "7d"})
    page = reader.get("/clients?window=7d").text
    # each group's first cell links to the page narrowed to it, the window kept
    assert 'href="/clients?window=7d&amp;transport=pipe"' in page
    assert 'href="/clients?window=7d&amp;protocol=2025-06-18"' in page
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        narrowed = _sums(
            conn,
            "transport",
            window,
            "and protocol_version = %(p)s and client_name is null",
            p="2025-06-18",
        )
        unknown = _sums(conn, None, window, "and client_name is null")
        cursor_days = conn.execute(
            "select count(*), sum(total_calls), sum(unique_sessions)"
            " from analytics.daily_client_summary"
            " where day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s"
            " and client_name = 'cursor' and client_version = '1.1'",
            (window.start, window.end),
        ).fetchone()
    # nothing is recorded both without a client and with a protocol version: an empty page
    html = reader.get(f"/clients?window=7d&protocol=2025-06-18&client={clients.NONE}").text
    assert not narrowed and "No client recorded a call" in html
    (none_calls, *_) = next(iter(unknown.values()))
    html = reader.get(f"/clients?window=7d&client={quote(clients.NONE)}").text
    assert f'<div class="value">{fmt_int(none_calls)}<' in html
    assert 'data-filter="client"' in html and "show all" in html
    # one client and version: the day-by-day rows of the mart, and the filter survives a refresh
    html = reader.get("/clients?window=7d&client=cursor&client_version=1.1").text
    rows = table_rows(html, "client-days")
    assert len(rows) == cursor_days[0] > 0
    assert sum(int(cells[5].replace(",", "")) for _, cells in rows) == cursor_days[1]
    assert sum(int(cells[8].replace(",", "")) for _, cells in rows) == cursor_days[2]
    assert 'data-refresh-url="/clients?window=7d&amp;client=cursor&amp;client_version=1.1"' in html
    assert {attrs["data-client"] for attrs, _ in table_rows(html, "by-client")} == {"cursor"}


def test_inventory_page_equals_the_mart(client_as, analyst_url: str) -> None:
    reader = client_as("reader")
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        expected = keyed_rows(
            conn,
            "select bcp_name, tool_name, status, calls_last_7_days from analytics.tool_inventory",
        )
    # every status is there: tool_0 and tool_1 called, unused_tool advertised only, tool_2 and
    # tool_3 of bcp_0 called without being advertised
    assert expected[("bcp_0", "unused_tool")] == ("never_called", 0)
    assert expected[("bcp_0", "tool_0")][0] == "called"
    assert expected[("bcp_0", "tool_2")][0] == "not_advertised"
    html = reader.get("/inventory").text
    rows = table_rows(html, "inventory")
    got = {
        (a["data-bcp"], a["data-tool"]): (a["data-status"], int(c[3].replace(",", "")))
        for a, c in rows
    }
    assert got == expected
    for status in ("called", "never_called", "not_advertised"):
        n = sum(1 for s, _ in expected.values() if s == status)
        assert f'id="kpi-{status}" href="/inventory?status={status}"' in html
        narrowed = table_rows(reader.get(f"/inventory?status={status}").text, "inventory")
        assert len(narrowed) == n and {a["data-status"] for a, _ in narrowed} == {status}
    refused = reader.get("/inventory?status=bogus")
    assert refused.status_code == 404 and "choose one of called" in refused.text


def test_tool_page_shows_its_definitions_and_a_never_called_tool_has_a_page(
    client_as, analyst_url: str
) -> None:
    reader = client_as("reader")
    versions = db.rows(
        analyst_url,
        "select version_number, change_kind, changed_fields, description, is_current"
        " from analytics.tool_definition_history where bcp_name = 'bcp_0'"
        " and definition_name = 'tool_0' order by version_number desc",
    )
    change = db.one_row(
        analyst_url,
        "select latest_change_at, calls_before_change, calls_after_change"
        " from analytics.tool_inventory where bcp_name = 'bcp_0' and tool_name = 'tool_0'",
    )
    assert [v[1] for v in versions] == ["changed", "added"]
    html = reader.get("/tools/bcp_0/tool_0?window=7d").text
    shown = table_rows(html, "definition-versions")
    assert [(c[0], c[1], c[2], c[8], c[7]) for _, c in shown] == [
        (str(n), kind, ", ".join(fields) or "–", description, "yes" if current else "no")
        for n, kind, fields, description, current in versions
    ]
    assert versions[0][2] == ["description"] and versions[0][3] == "Second wording."
    assert f"changed {fmt_time(change[0])}: {fmt_int(change[1])} calls" in html
    assert f"{fmt_int(change[2])} at" in html
    # advertised, never called: a page with its definition and no calls rather than a 404
    page = reader.get("/tools/bcp_0/unused_tool")
    assert page.status_code == 200
    assert 'data-status="never_called"' in page.text
    assert '<div class="value">0<' in page.text
    # a tool of a server without a snapshot says how to take one
    other = reader.get("/tools/bcp_1/tool_1").text
    assert "mcp-analytics inventory snapshot URL" in other
    assert reader.get("/tools/bcp_0/no_such_tool").status_code == 404


@pytest.mark.parametrize("key", ["7d", "30d"])
def test_releases_page_equals_the_mart(client_as, analyst_url: str, key: str) -> None:
    reader = client_as("reader")
    releases = mart_groups(
        analyst_url,
        key,
        "daily_tool_version_summary",
        f"bcp_name, tool_version, sum(total_calls), sum(failed_calls), {MERGED_QUANTILES}",
    )
    expected = {(bcp, clients.label(v)): sums for (bcp, v), sums in releases.items()}
    regressed = db.rows(
        analyst_url,
        "select bcp_name, tool_name, metric, previous_version, version"
        " from analytics.tool_regressions where comparison = 'release'",
    )
    # bcp_0 has two releases; the others carry no version
    assert {v for (b, v) in expected if b == "bcp_0"} == {"1.0.0", "1.1.0"}
    assert ("bcp_1", clients.NONE) in expected
    assert ("bcp_0", "tool_0", "p95_duration_ms", "1.0.0", "1.1.0") in regressed
    html = reader.get(f"/versions?window={key}").text
    rows = table_rows(html, "releases")
    got = {(a["data-bcp"], a["data-version"]): c for a, c in rows}
    assert got.keys() == expected.keys()
    for k, (calls, failed, qs) in expected.items():
        assert got[k][3:5] == [fmt_int(calls), fmt_int(failed)], k
        assert got[k][7:10] == [fmt_ms(q) for q in qs], k
    shown = {
        (a["data-bcp"], a["data-tool"], a["data-metric"])
        for a, _ in table_rows(html, "regressions")
    }
    assert shown == {(b, t, m) for b, t, m, _, _ in regressed}
    # newest release first within a server
    assert [v for b, v in got if b == "bcp_0"] == ["1.1.0", "1.0.0"]


def test_releases_of_one_server_and_a_tool_page(client_as, analyst_url: str) -> None:
    reader = client_as("reader")
    per_tool = mart_groups(
        analyst_url,
        "7d",
        "daily_tool_version_summary",
        "tool_name, tool_version, sum(total_calls)",
        where="and bcp_name = 'bcp_0'",
    )
    html = reader.get("/versions?window=7d&bcp=bcp_0").text
    assert 'data-filter="bcp"' in html and 'data-chart-name="chart-versions-1"' in html
    assert 'data-refresh-url="/versions?window=7d&amp;bcp=bcp_0"' in html
    got = {
        (a["data-tool"], a["data-version"]): c[3] for a, c in table_rows(html, "releases-by-tool")
    }
    assert got == {k: fmt_int(v) for k, (v,) in per_tool.items()}
    assert {a["data-bcp"] for a, _ in table_rows(html, "releases")} == {"bcp_0"}
    page = reader.get("/tools/bcp_0/tool_0?window=7d").text
    versions = {a["data-version"]: c[2] for a, c in table_rows(page, "tool-releases")}
    assert versions == {v: fmt_int(n) for (t, v), (n,) in per_tool.items() if t == "tool_0"}
    assert [a["data-metric"] for a, _ in table_rows(page, "regressions")] == ["p95_duration_ms"]
    quiet = reader.get("/tools/bcp_0/tool_1?window=7d").text
    assert 'id="no-regressions"' in quiet


def test_sessions_page_equals_the_marts(client_as, analyst_url: str) -> None:
    # one window for the three reads
    window = parse_window({"window": "7d"})
    groups = mart_groups(
        analyst_url,
        window,
        "daily_session_summary",
        "bcp_name, session_definition, sum(sessions), sum(operations)",
    )
    [(longest,)] = mart_groups(
        analyst_url, window, "mcp_sessions", "max(duration_ms)", key=0
    ).values()
    [idle] = mart_groups(
        analyst_url,
        window,
        "mcp_sessions",
        "count(*), sum(operations)",
        key=0,
        where="and session_definition = 'idle_gap_30m:v1' and bcp_name = 'bcp_0'",
    ).values()
    # both definitions: calls with a transport session id, and calls without one
    assert {d for _, d in groups} == {"transport_id:v1", "idle_gap_30m:v1"}
    reader = client_as("reader")
    html = reader.get("/sessions?window=7d").text
    sessions_total = sum(n for n, _ in groups.values())
    assert f'<div class="value">{fmt_int(sessions_total)}<' in html
    got = {
        (a["data-bcp"], a["data-definition"]): (c[2], c[3])
        for a, c in table_rows(html, "session-groups")
    }
    assert got == {k: (fmt_int(n), fmt_int(ops)) for k, (n, ops) in groups.items()}
    first = table_rows(html, "longest-sessions")[0][1]
    assert first[6] == fmt_ms(longest)
    # narrowed to a server and a definition: the mart's own rows of them, day by day
    page = reader.get("/sessions?window=7d&bcp=bcp_0&definition=idle_gap_30m:v1")
    days = table_rows(page.text, "session-days")
    assert sum(int(c[3].replace(",", "")) for _, c in days) == idle[0] > 0
    assert sum(int(c[4].replace(",", "")) for _, c in days) == idle[1]
    assert 'data-filter="definition"' in page.text and 'data-filter="bcp"' in page.text
    assert "definition=idle_gap_30m" in page.text.split('data-refresh-url="', 1)[1].split('"')[0]


def test_the_sessions_reads_are_planned_with_their_window_every_time(warehouse: str) -> None:
    """The Sessions page's reads are never prepared, even on a connection that prepares every
    query at once: a generic plan guesses the window's rows and would read and sort every
    session of the window instead of walking the longest-sessions index to its limit."""
    window = parse_window({"window": "7d"})
    with psycopg.connect(warehouse, prepare_threshold=0) as conn:
        conn.execute("select 1").fetchone()
        for narrowed in ((), (("bcp", "bcp_0"),), (("definition", "idle_gap_30m:v1"),)):
            for _ in range(3):
                page = sessions._sessions(conn, window, narrowed, 5)
                assert page.rows and page.longest
        statements = [
            row[0]
            for row in conn.execute("select statement from pg_prepared_statements", prepare=False)
        ]
    # the connection does prepare: the first query is there, none of the page's
    assert statements == ["select 1"]
    assert len(page.longest) <= 5


def test_the_sessions_page_is_kept_without_counting_the_sessions(
    analyst_url: str, warehouse: str
) -> None:
    """The Sessions page is reused while its marts are unchanged, and checking that reads no
    row of mcp_sessions (its window's rows are ~700,000 at 10 M calls: counting them on every
    view cost ~100 ms); a write to it (here a delete rolled back, as retention's is not) makes
    the page computed again."""
    window = parse_window({"window": "7d"})

    def scans(conn: psycopg.Connection) -> tuple[int, int]:
        row = conn.execute(
            "select seq_scan, coalesce(idx_scan, 0) from pg_stat_xact_user_tables"
            " where relid = 'analytics.mcp_sessions'::regclass"
        ).fetchone()
        return row[0], row[1]

    with psycopg.connect(analyst_url, autocommit=True) as conn:
        first = sessions.sessions(conn, window)
        with conn.transaction():
            before = scans(conn)
            again = sessions.sessions(conn, window)
            after = scans(conn)
        assert first is not None and first.longest and again is first
        assert after == before
        with psycopg.connect(warehouse, autocommit=True) as writer:
            with writer.transaction(force_rollback=True):
                writer.execute(
                    "delete from analytics.mcp_sessions where ctid = (select min(ctid)"
                    " from analytics.mcp_sessions)"
                )
            # the writer's statistics now, not when its session ends
            writer.execute("select pg_stat_force_next_flush()")
            writer.execute("select 1")
        computed = sessions.sessions(conn, window)
        assert computed is not first and computed == first

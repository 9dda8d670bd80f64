"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright against a
real server (uvicorn) on a warehouse built by dbt. Skipped, saying why, only when
/usr/bin/chromium is absent (`apt-get install chromium`; .ci/run installs it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.types.json import Jsonb

from mcp_analytics.dashboard import DashboardConfig
from mcp_analytics.dashboard.charts import fmt_int
from mcp_analytics.dashboard.windows import parse_window
from tests.dashboard.browser import CHROMIUM, chromium, live_server
from tests.dashboard.helpers import USERS
from tests.helpers.db import scalar

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]

DRAWN = "[data-chart][data-drawn=yes]"


@pytest.fixture(scope="module")
def base_url(warehouse: str, analyst_url: str) -> Iterator[str]:
    with live_server(DashboardConfig(admin_url=warehouse, analyst_url=analyst_url)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page_as(browser, base_url: str):
    """`page_as(username)`: a new browser context signed in through the form; its console
    errors (a CSP violation, a script error) fail the test."""
    contexts = []
    problems: list[str] = []

    def open_as(username: str | None):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        page.on(
            "console",
            lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        page.goto(f"{base_url}/login")
        if username:
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", USERS[username][0])
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{base_url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()
    # a refused form post logs its 4xx as a console error: only script/CSP problems count
    real = [p for p in problems if "status of 4" not in p]
    assert not real, real


def _points(page, chart_name: str) -> list[int]:
    """Points per series of an ECharts chart as drawn (from the chart instance)."""
    return page.evaluate(
        """name => echarts.getInstanceByDom(document.querySelector(`[data-chart-name=${name}]`))
                 .getOption().series.map(s => s.data.length)""",
        chart_name,
    )


def test_sign_in_and_see_the_overview_charts_drawn(page_as, warehouse: str) -> None:
    page = page_as("reader")
    page.wait_for_selector(f"[data-chart-name=chart-calls]{DRAWN}")
    page.wait_for_selector(f"[data-chart-name=chart-latency]{DRAWN}")
    window = parse_window({"window": "24h"})
    buckets = len(window.buckets())
    assert _points(page, "chart-calls") == [buckets, buckets]
    assert _points(page, "chart-latency") == [buckets, buckets, buckets]
    # drawn as SVG by ECharts: one bar per hour with calls
    hours_with_calls = scalar(
        warehouse,
        "select count(distinct hour) from analytics.hourly_tool_usage_summary"
        " where hour >= %s and hour < %s",
        (window.start, window.end),
    )
    bars = page.evaluate(
        """() => document.querySelectorAll(
                   '[data-chart-name=chart-calls] svg path[fill="#3559e0"]').length"""
    )
    assert hours_with_calls > 0 and bars >= hours_with_calls
    calls = scalar(
        warehouse,
        "select sum(total_calls) from analytics.hourly_tool_usage_summary"
        " where hour >= %s and hour < %s",
        (window.start, window.end),
    )
    assert page.inner_text("#kpi-calls .value") == fmt_int(calls)


@contextmanager
def _refreshing_every_second(warehouse: str) -> Iterator[None]:
    """dashboard.refresh_interval_ms at 1000 for the block, back to 10000 after it."""

    def refresh_every(ms: int) -> None:
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute(
                "update system_configuration set config_value = %s"
                " where config_key = 'dashboard.refresh_interval_ms'",
                (Jsonb(ms),),
            )

    refresh_every(1000)
    try:
        yield
    finally:
        refresh_every(10_000)


def test_auto_refresh_replaces_the_content_without_reload_and_pauses(
    page_as, warehouse: str
) -> None:
    with _refreshing_every_second(warehouse):
        page = page_as("reader")
        page.wait_for_selector(f"[data-chart-name=chart-calls]{DRAWN}")
        page.evaluate("() => { window.__notReloaded = 42; }")
        page.wait_for_function("() => Number(document.body.dataset.refreshes) >= 2", timeout=15000)
        assert page.evaluate("() => window.__notReloaded") == 42
        page.wait_for_selector(f"[data-chart-name=chart-calls]{DRAWN}")
        page.click("#refresh-toggle")
        assert page.inner_text("#refresh-state") == "paused"
        page.wait_for_timeout(1500)  # a request in flight when pausing may still land
        before = page.evaluate("() => Number(document.body.dataset.refreshes)")
        page.wait_for_timeout(3000)
        assert page.evaluate("() => Number(document.body.dataset.refreshes)") == before
        page.click("#refresh-toggle")  # resume (the choice is remembered per browser)
        assert page.inner_text("#refresh-state").startswith("every")


def test_a_session_revoked_elsewhere_sends_the_refreshing_page_to_sign_in(
    page_as, warehouse: str, base_url: str
) -> None:
    with _refreshing_every_second(warehouse):
        page = page_as("admin")
        page.wait_for_selector(f"[data-chart-name=chart-calls]{DRAWN}")
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute(
                "update sessions set is_active = false from users"
                " where users.id = sessions.user_id and users.username = 'admin'"
            )
        page.wait_for_url(re.compile(rf"{base_url}/login\?next="), timeout=15000)


def test_open_a_tool_from_the_tools_page(page_as, warehouse: str, base_url: str) -> None:
    page = page_as("reader")
    page.click("nav >> text=Tools")
    page.wait_for_selector("#tools-table")
    page.wait_for_selector(f".spark{DRAWN}")
    first = page.locator("#tools-table tbody tr").first
    tool, bcp = first.get_attribute("data-tool"), first.get_attribute("data-bcp")
    first.locator("a").first.click()
    page.wait_for_url(re.compile(rf"{base_url}/tools/{bcp}/{tool}\?"))
    page.wait_for_selector(f"[data-chart-name=chart-distribution]{DRAWN}")
    window = parse_window({"window": "24h"})
    buckets = scalar(
        warehouse,
        "select count(distinct e.key) from analytics.hourly_tool_usage_summary as h"
        " cross join lateral jsonb_each_text(h.duration_histogram) as e"
        " where h.bcp_name = %s and h.tool_name = %s and h.hour >= %s and h.hour < %s",
        (bcp, tool, window.start, window.end),
    )
    assert _points(page, "chart-distribution") == [buckets]
    calls = scalar(
        warehouse,
        "select sum(total_calls) from analytics.hourly_tool_usage_summary"
        " where bcp_name = %s and tool_name = %s and hour >= %s and hour < %s",
        (bcp, tool, window.start, window.end),
    )
    assert page.inner_text("#kpi-calls .value") == fmt_int(calls)


def test_resolve_an_error_as_admin_and_be_refused_as_read_only(
    page_as, warehouse: str, base_url: str
) -> None:
    # the newest unresolved error: the first row of the list
    error_id = scalar(
        warehouse,
        'select id from error_logs where resolved = false order by "timestamp" desc, id desc'
        " limit 1",
    )
    reader = page_as("reader")
    reader.goto(f"{base_url}/errors")
    reader.wait_for_selector(f"#error-{error_id}")
    assert reader.locator("form.resolve").count() == 0  # no form offered
    # and a hand-made request with the reader's own CSRF token is refused by the server
    status = reader.evaluate(
        """async id => (await fetch(`/errors/${id}/resolve`, {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: new URLSearchParams({notes: 'not mine to close',
                                        csrf_token: document.body.dataset.csrf})})).status""",
        error_id,
    )
    assert status == 403
    assert not scalar(warehouse, "select resolved from error_logs where id = %s", (error_id,))

    admin = page_as("admin")
    admin.goto(f"{base_url}/errors")
    row = admin.locator(f"#error-{error_id}")
    row.locator("textarea[name=notes]").fill("restarted the upstream; fixed")
    row.locator("button[type=submit]").click()
    admin.wait_for_selector("text=Error resolved.")
    assert admin.locator(f"#error-{error_id}").count() == 0
    assert (
        scalar(
            warehouse,
            "select (e.resolved, e.resolution_notes, u.username)::text from error_logs as e"
            " join users as u on u.id = e.resolved_by where e.id = %s",
            (error_id,),
        )
        == '(t,"restarted the upstream; fixed",admin)'
    )


def test_edit_a_retention_policy(page_as, warehouse: str, base_url: str) -> None:
    admin = page_as("admin")
    admin.goto(f"{base_url}/admin/retention")
    row = admin.locator("tr[data-table=performance_metrics]")
    row.locator("input[name=retention_days]").fill("45")
    row.locator("button[value=preview]").click()
    admin.wait_for_selector("#preview")
    assert "performance_metrics" in admin.inner_text("#preview h2")
    assert (
        scalar(
            warehouse,
            "select retention_days from data_retention_policies"
            " where table_name = 'performance_metrics'",
        )
        == 30
    )
    row = admin.locator("tr[data-table=performance_metrics]")
    row.locator("input[name=retention_days]").fill("45")
    row.locator("button[value=save]").click()
    admin.wait_for_selector("text=Retention policy saved.")
    assert (
        scalar(
            warehouse,
            "select (p.retention_days, u.username)::text from data_retention_policies as p"
            " join users as u on u.id = p.updated_by where p.table_name = 'performance_metrics'",
        )
        == "(45,admin)"
    )


def test_locked_out_after_too_many_wrong_passwords(page_as, warehouse: str) -> None:
    from mcp_analytics import auth

    with psycopg.connect(warehouse, autocommit=True) as conn:
        auth.create_user(conn, "clumsy", "clumsy-password-1")
        attempts = auth.load_policy(conn).max_login_attempts
    page = page_as(None)
    for _ in range(attempts):
        page.fill("input[name=username]", "clumsy")
        page.fill("input[name=password]", "wrong-password")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error")
    page.fill("input[name=username]", "clumsy")
    page.fill("input[name=password]", "clumsy-password-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error")
    assert "/login" in page.url
    assert scalar(warehouse, "select locked_until > now() from users where username = 'clumsy'")


def test_sign_out(page_as, base_url: str) -> None:
    page = page_as("reader")
    page.click("#logout")
    page.wait_for_url(f"{base_url}/login")
    page.goto(f"{base_url}/tools")
    assert page.url.startswith(f"{base_url}/login?next=")


def test_clients_by_protocol_and_transport_and_their_drill_down(
    page_as, warehouse: str, base_url: str
) -> None:
    from mcp_analytics.dashboard.clients import window_days

    page = page_as("reader")
    page.click("nav >> text=Clients")
    page.wait_for_selector(f"[data-chart-name=chart-protocols]{DRAWN}")
    page.wait_for_selector(f"[data-chart-name=chart-transports]{DRAWN}")
    window = parse_window({"window": "24h"})
    days = len(window_days(window))
    protocols, transports = (
        scalar(
            warehouse,
            f"select count(distinct coalesce({column}, '')) from analytics.daily_client_summary"
            " where day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s",
            (window.start, window.end),
        )
        for column in ("protocol_version", "transport")
    )
    # one stacked series per protocol version (and per transport), one point per day
    assert _points(page, "chart-protocols") == [days] * protocols
    assert _points(page, "chart-transports") == [days] * transports
    # drill down: a transport narrows every panel, then a client its day-by-day rows
    page.click("#by-transport tr[data-key=tcp] a")
    page.wait_for_url(re.compile(rf"{base_url}/clients\?window=24h&transport=tcp$"))
    page.wait_for_selector(f"[data-chart-name=chart-transports]{DRAWN}")
    assert _points(page, "chart-transports") == [days]
    calls = scalar(
        warehouse,
        "select sum(total_calls) from analytics.daily_client_summary"
        " where day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s"
        " and transport = 'tcp'",
        (window.start, window.end),
    )
    assert page.inner_text("#kpi-calls .value") == fmt_int(calls)
    page.locator("#by-client tbody tr a").first.click()
    page.wait_for_selector("#client-days")
    assert "client=" in page.url and "transport=tcp" in page.url
    assert page.locator("#filters .chip").count() == 3


def test_inventory_and_a_tool_definition_history(page_as, base_url: str) -> None:
    page = page_as("reader")
    page.click("nav >> text=Inventory")
    page.wait_for_selector("#inventory")
    assert page.locator("#inventory tr[data-status=never_called]").count() == 1
    page.click("#kpi-not_advertised")
    page.wait_for_url(f"{base_url}/inventory?status=not_advertised")
    statuses = page.locator("#inventory tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)"
    )
    assert statuses and set(statuses) == {"not_advertised"}
    page.goto(f"{base_url}/inventory")
    page.click("#inventory tr[data-tool=tool_0][data-bcp=bcp_0] a")
    page.wait_for_selector("#definition-versions")
    page.wait_for_selector(f"[data-chart-name=chart-calls]{DRAWN}")
    assert page.locator("#definition-versions tbody tr").count() == 2
    assert "Second wording." in page.inner_text("#definition-versions tbody tr >> nth=0")


def test_releases_a_server_and_its_regressed_tool(page_as, warehouse: str, base_url: str) -> None:
    page = page_as("reader")
    page.click("nav >> text=Releases")
    page.wait_for_selector("#regressions tr[data-tool=tool_0]")
    page.click("#releases tr[data-bcp=bcp_0][data-version='1.1.0'] a")
    page.wait_for_url(re.compile(rf"{base_url}/versions\?window=24h&bcp=bcp_0$"))
    page.wait_for_selector(f"[data-chart-name=chart-versions-1]{DRAWN}")
    versions = scalar(
        warehouse,
        "select count(distinct tool_version) from analytics.daily_tool_version_summary"
        " where bcp_name = 'bcp_0' and day >= date_trunc('day', %s::timestamptz, 'UTC')",
        (parse_window({"window": "24h"}).start,),
    )
    # one stacked series per version of the server, one point per day
    from mcp_analytics.dashboard.clients import window_days

    days = len(window_days(parse_window({"window": "24h"})))
    assert _points(page, "chart-versions-1") == [days] * versions
    page.click("#releases-by-tool tr[data-tool=tool_0][data-version='1.1.0'] td >> nth=1 >> a")
    page.wait_for_selector("#tool-releases")
    page.wait_for_selector(f"[data-chart-name=chart-latency]{DRAWN}")
    assert page.locator("#regressions tr[data-metric=p95_duration_ms]").count() == 1


def test_sessions_by_definition_and_a_drill_down(page_as, warehouse: str, base_url: str) -> None:
    from mcp_analytics.dashboard.clients import window_days

    page = page_as("reader")
    page.click("nav >> text=Sessions")
    page.wait_for_selector(f"[data-chart-name=chart-sessions]{DRAWN}")
    window = parse_window({"window": "24h"})
    definitions = scalar(
        warehouse,
        "select count(distinct session_definition) from analytics.daily_session_summary"
        " where day >= date_trunc('day', %s::timestamptz, 'UTC') and day < %s",
        (window.start, window.end),
    )
    # one stacked series per session definition, one point per day
    assert _points(page, "chart-sessions") == [len(window_days(window))] * definitions
    page.click("#session-groups tr[data-definition='idle_gap_30m:v1'] td >> nth=1 >> a")
    page.wait_for_selector("#session-days")
    page.wait_for_selector(f"[data-chart-name=chart-sessions]{DRAWN}")
    assert _points(page, "chart-sessions") == [len(window_days(window))]
    assert page.locator("#filters .chip").count() == 1

"""The dashboard over HTTP (Starlette's TestClient on the real app, real PostgreSQL, marts built
by the real dbt, the marts read as a real mcp_analyst login): sessions, CSRF, headers, roles,
leaks, and the numbers against the marts."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest
from starlette.testclient import TestClient

from mcp_analytics.dashboard import admin, marts, pipeline
from mcp_analytics.dashboard.cache import CACHE
from mcp_analytics.dashboard.charts import fmt_int, fmt_ms
from mcp_analytics.dashboard.web import SESSION_COOKIE
from mcp_analytics.dashboard.windows import Window, parse_window
from tests.dashboard.helpers import (
    MERGED_QUANTILES,
    USERS,
    csrf_of,
    mart_groups,
    sign_in,
    table_rows,
)
from tests.helpers.db import scalar

pytestmark = pytest.mark.slow

PAGES = (
    "/",
    "/?window=1h",
    "/?window=7d",
    "/?window=90d",
    "/tools",
    "/tools?window=30d&sort=p95.asc",
    "/tools/bcp_0/tool_0",
    "/budget",
    "/budget?window=30d",
    "/clients",
    "/clients?window=30d&transport=tcp&client=cursor",
    "/inventory",
    "/inventory?status=never_called",
    "/versions",
    "/versions?window=30d&bcp=bcp_0",
    "/sessions",
    "/sessions?window=30d&definition=transport_id:v1",
    "/errors",
    "/errors?q=synthetic",
    "/requests",
    "/metrics",
    "/pipeline",
)
ADMIN_PAGES = ("/admin/retention", "/admin/config")
SUPER_PAGES = ("/admin/users",)


def _error_id(url: str, resolved: bool = False) -> int:
    return scalar(
        url, "select min(id) from error_logs where resolved is not distinct from %s", (resolved,)
    )


# ------------------------------------------------------------------------- no session


@pytest.mark.parametrize("path", PAGES + ADMIN_PAGES + SUPER_PAGES + ("/tools.csv",))
def test_no_page_without_a_session(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={quote(path, safe='')}"
    # an HTMX refresh is told to go to the sign-in page rather than given a login form
    htmx = anonymous.get(path, headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"].startswith("/login?next=")


def test_a_forged_or_expired_session_is_no_session(
    app, warehouse: str, anonymous: TestClient
) -> None:
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(SESSION_COOKIE, "not-a-token")
        assert client.get("/").status_code == 303
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "reader", USERS["reader"][0]).status_code == 303
        assert client.get("/").status_code == 200
        token = client.cookies[SESSION_COOKIE]
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute(
                "update sessions set created_at = now() - interval '2 days',"
                " expires_at = now() - interval '1 second' where token = %s",
                (hashlib.sha256(token.encode()).hexdigest(),),
            )
        response = client.get("/tools")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


def test_a_page_view_writes_the_session_at_most_once_a_minute(app, warehouse: str) -> None:
    """Each request checks the session, but writes its last access only when the last write
    is a minute old: page views within the minute read it and write nothing."""
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "reader", USERS["reader"][0]).status_code == 303
        hashed = hashlib.sha256(client.cookies[SESSION_COOKIE].encode()).hexdigest()
        with psycopg.connect(warehouse, autocommit=True) as conn:

            def last_access_after_a_view(age: str) -> tuple[bool, bool]:
                """(the row was written, last_accessed moved on) by a view `age` after it."""
                before = conn.execute(
                    "update sessions set last_accessed = now() - %s::interval where token = %s"
                    " returning last_accessed, xmin::text",
                    (age, hashed),
                ).fetchone()
                assert client.get("/healthz").status_code == 200  # no session check
                assert client.get("/tools").status_code == 200
                after = conn.execute(
                    "select last_accessed, xmin::text from sessions where token = %s", (hashed,)
                ).fetchone()
                return after != before, after[0] > before[0]

            assert last_access_after_a_view("30 seconds") == (False, False)
            assert last_access_after_a_view("61 seconds") == (True, True)
            # a revoked session is refused at once, whatever its last access
            conn.execute("update sessions set is_active = false where token = %s", (hashed,))
        assert client.get("/tools").status_code == 303


# ------------------------------------------------------------------ sign-in, cookie, logout


def test_sign_in_sets_a_hardened_cookie_holding_a_token_stored_only_as_its_hash(
    app, warehouse: str
) -> None:
    with TestClient(app, follow_redirects=False) as client:
        response = sign_in(client, "reader", USERS["reader"][0])
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        token = client.cookies[SESSION_COOKIE]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
        assert 23 * 3600 < max_age <= 24 * 3600  # auth.session_timeout_hours = 24
        stored = (
            scalar(warehouse, "select count(*) from sessions where token = %s", (token,)),
            scalar(
                warehouse,
                "select count(*) from sessions where token = %s",
                (hashlib.sha256(token.encode()).hexdigest(),),
            ),
        )
        assert stored == (0, 1)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = sign_in(client, "reader", USERS["reader"][0])
        assert "Secure" in response.headers["set-cookie"]
        assert "strict-transport-security" in response.headers


def test_sign_out_ends_the_session(app) -> None:
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "reader", USERS["reader"][0])
        page = client.get("/")
        token = client.cookies[SESSION_COOKIE]
        refused = client.post("/logout", data={"csrf_token": "wrong"})
        assert refused.status_code == 403
        assert client.get("/").status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    with TestClient(app, follow_redirects=False) as replay:
        replay.cookies.set(SESSION_COOKIE, token)
        assert replay.get("/").status_code == 303


def test_wrong_passwords_lock_the_account(app, warehouse: str) -> None:
    from mcp_analytics import auth

    with psycopg.connect(warehouse, autocommit=True) as conn:
        auth.create_user(conn, "guessed", "guessed-password-1")
        attempts = auth.load_policy(conn).max_login_attempts
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(attempts):
            response = sign_in(client, "guessed", "not-the-password")
            assert response.status_code == 401
            assert "invalid username or password" in response.text
        locked = sign_in(client, "guessed", "guessed-password-1")
        assert locked.status_code == 401
        assert SESSION_COOKIE not in client.cookies
    assert scalar(warehouse, "select locked_until > now() from users where username = 'guessed'")


# --------------------------------------------------------------------------------- CSRF


def test_csrf_refusals(app, client_as, warehouse: str) -> None:
    admin = client_as("admin")
    error_id = _error_id(warehouse)
    page = admin.get("/errors")
    token = csrf_of(page.text)
    target = f"/errors/{error_id}/resolve"
    assert admin.post(target, data={"notes": "x"}).status_code == 403
    assert admin.post(target, data={"notes": "x", "csrf_token": "0" * 64}).status_code == 403
    # the right token from another site's page
    cross = admin.post(
        target,
        data={"notes": "x", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert not scalar(warehouse, "select resolved from error_logs where id = %s", (error_id,))
    # the sign-in form needs its own token (double submit with its cookie)
    with TestClient(app, follow_redirects=False) as client:
        blind = client.post("/login", data={"username": "reader", "password": "x" * 10})
        assert blind.status_code == 403
        client.get("/login")
        forged = client.post(
            "/login",
            data={"username": "reader", "password": USERS["reader"][0], "csrf_token": "forged"},
        )
        assert forged.status_code == 403


# ------------------------------------------------------------------------------ headers


def test_security_headers_and_no_inline_script(client_as, anonymous: TestClient) -> None:
    reader = client_as("reader")
    responses = [anonymous.get("/login")] + [reader.get(p) for p in PAGES]
    for response in responses:
        assert response.status_code == 200, response.request.url
        csp = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        html = response.text
        for script in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/' in script, script
        assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
        assert "http://" not in html.replace("http://127.0.0.1:4318", "")
    static = reader.get("/static/vendor/echarts.min.js")
    assert static.status_code == 200 and len(static.content) > 500_000


# -------------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("user", "allowed", "refused"),
    [
        ("reader", PAGES, ADMIN_PAGES + SUPER_PAGES),
        ("admin", PAGES + ADMIN_PAGES, SUPER_PAGES),
        ("root", PAGES + ADMIN_PAGES + SUPER_PAGES, ()),
    ],
)
def test_each_role_sees_its_pages_and_is_refused_the_others(
    client_as, user: str, allowed: tuple, refused: tuple
) -> None:
    client = client_as(user)
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "needs the" in response.text


def test_read_only_cannot_resolve_nor_edit(client_as, warehouse: str) -> None:
    reader = client_as("reader")
    token = csrf_of(reader.get("/").text)
    error_id = _error_id(warehouse)
    before = scalar(
        warehouse,
        "select retention_days from data_retention_policies where table_name = 'sessions'",
    )
    posts = {
        f"/errors/{error_id}/resolve": {"notes": "not allowed"},
        "/admin/retention/sessions": {
            "retention_days": "3",
            "cleanup_batch_size": "10",
            "cleanup_interval_hours": "1",
            "action": "save",
        },
        "/admin/config/dashboard.refresh_interval_ms": {"value": "5000"},
        "/admin/users": _new_user("sneaky", "ADMIN"),
    }
    for path, data in posts.items():
        response = reader.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    assert not scalar(warehouse, "select resolved from error_logs where id = %s", (error_id,))
    assert before == scalar(
        warehouse,
        "select retention_days from data_retention_policies where table_name = 'sessions'",
    )
    assert not scalar(warehouse, "select count(*) from users where username = 'sneaky'")
    # an ADMIN manages neither users nor sensitive settings
    admin = client_as("admin")
    token = csrf_of(admin.get("/").text)
    response = admin.post(
        "/admin/users", data={**_new_user("sneaky", "ADMIN"), "csrf_token": token}
    )
    assert response.status_code == 403


def _new_user(username: str, role: str) -> dict[str, str]:
    """The new-user form of the Users page, the password `<username>-password`."""
    return {"username": username, "password": f"{username}-password", "role": role}


# --------------------------------------------------------------------------------- leaks

SECRET = "sk-live-0123456789abcdef-do-not-show"


def test_no_page_leaks_a_password_hash_a_token_or_a_sensitive_setting(
    client_as, warehouse: str
) -> None:
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive,"
            " description) values ('integrations.api_key', %s, true, 'an API key')"
            " on conflict do nothing",
            (f'"{SECRET}"',),
        )
        hashes = [r[0] for r in conn.execute("select password_hash from users").fetchall()]
        tokens = [r[0] for r in conn.execute("select token from sessions").fetchall()]
    for user in USERS:
        client = client_as(user)
        cookie = client.cookies[SESSION_COOKIE]
        pages = PAGES + ADMIN_PAGES + SUPER_PAGES + ("/tools.csv",)
        for path in pages:
            text = client.get(path).text
            assert SECRET not in text, (user, path)
            assert cookie not in text, (user, path)
            assert "$2b$" not in text and "$2a$" not in text, (user, path)
            for secret in hashes + tokens:
                assert secret not in text, (user, path)
    # the SUPER_ADMIN sees that the setting exists, never its value
    config = client_as("root").get("/admin/config").text
    assert "integrations.api_key" in config
    assert "integrations.api_key" not in client_as("admin").get("/admin/config").text


# ------------------------------------------------------------------------- the numbers


def test_overview_and_tools_equal_the_marts(client_as, analyst_url: str, warehouse: str) -> None:
    reader = client_as("reader")
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        for key, table, column in (
            ("24h", "hourly_tool_usage_summary", "hour"),
            ("7d", "hourly_tool_usage_summary", "hour"),
            ("30d", "daily_tool_usage_summary", "day"),
        ):
            window = parse_window({"window": key})
            calls, failed, p50, p95, p99 = conn.execute(
                f"select sum(total_calls), sum(failed_calls),"
                " mart_hist_quantile(mart_hist_merge(duration_histogram), 0.5),"
                " mart_hist_quantile(mart_hist_merge(duration_histogram), 0.95),"
                " mart_hist_quantile(mart_hist_merge(duration_histogram), 0.99)"
                f" from analytics.{table} where {column} >= %s and {column} < %s",
                (window.start, window.end),
            ).fetchone()
            overview = marts.overview(conn, window)
            assert (overview.calls, overview.errors) == (calls, failed)
            classes = conn.execute(
                f"select sum(tool_error_calls), sum(caller_error_calls), sum(server_error_calls),"
                f" sum(transport_error_calls) from analytics.{table}"
                f" where {column} >= %s and {column} < %s",
                (window.start, window.end),
            ).fetchone()
            assert tuple(overview.classes.values()) == classes
            assert sum(classes) == failed
            assert overview.calls > 0
            for ours, documented in zip(
                (overview.p50, overview.p95, overview.p99), (p50, p95, p99), strict=True
            ):
                assert ours == pytest.approx(documented, rel=1e-9)
            html = reader.get(f"/?window={key}").text
            assert f">{fmt_int(calls)}<" in html
            assert f">{fmt_ms(p95)}<" in html
            # one point per bucket of the window
            assert len(overview.series) == len(window.buckets())
            assert sum(p.calls for p in overview.series) == calls

        # a window of hours longer than a day: its whole days from the daily mart, the edge
        # hours from the hourly one; the same numbers as the hourly rows, whether it ends at
        # midnight or not (the data: the last 72 hours)
        week = parse_window({"window": "7d"})
        for end in [week.end - timedelta(hours=shift) for shift in (0, 7, 13)] + [
            week.end.replace(hour=0)
        ]:
            window = replace(week, start=end - timedelta(hours=50), end=end)
            _tools_equal_the_hourly_mart(conn, window)
        window = parse_window({"window": "24h"})
        expected = _hourly_per_tool(conn, window.start, window.end)
    body = reader.get("/tools.csv?window=24h")
    assert body.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.text)))
    got = {
        (r["bcp_name"], r["tool_name"]): (int(r["calls"]), int(r["errors"]), float(r["p95_ms"]))
        for r in rows
        if int(r["calls"])
    }
    assert got.keys() == expected.keys()
    for key, (calls, failed, p95) in expected.items():
        assert got[key][:2] == (calls, failed)
        assert got[key][2] == pytest.approx(p95, rel=1e-6)
    # sorted by p95 ascending when asked
    html = reader.get("/tools?window=24h&sort=p95.asc").text
    order = re.findall(r'<tr data-tool="([^"]+)" data-bcp="([^"]+)">', html)
    p95s = [expected[(bcp, tool)][2] for tool, bcp in order if (bcp, tool) in expected]
    assert p95s == sorted(p95s)


def test_error_budget_and_error_summary_equal_the_marts(
    client_as, analyst_url: str, warehouse: str
) -> None:
    reader = client_as("reader")
    window = parse_window({"window": "7d"})
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        budget = marts.error_budget(conn, window)
        latest = conn.execute(
            "select distinct on (bcp_name, tool_name) bcp_name, tool_name, budget_remaining,"
            " window_error_calls from analytics.tool_error_budget where day < %s"
            " order by bcp_name, tool_name, day desc",
            (window.end,),
        ).fetchall()
        days = marts.error_days(conn, window)
    summed = mart_groups(
        analyst_url,
        window,
        "daily_error_summary",
        "level::text, category, sum(error_count), sum(unresolved_count)",
    )
    assert budget is not None and latest
    assert {(b["bcp_name"], b["tool_name"], b["budget_remaining"], b["window_error_calls"])
            for b in budget} == set(latest)  # fmt: skip
    remaining = [b["budget_remaining"] for b in budget if b["budget_remaining"] is not None]
    assert remaining == sorted(remaining)  # most spent first
    html = reader.get("/budget?window=7d").text
    assert html.count("<tr data-tool=") == len(latest)
    totals = {(t["level"], t["category"]): t for t in marts.error_totals(days)}
    assert {k: (t["error_count"], t["unresolved_count"]) for k, t in totals.items()} == summed
    assert sum(n for n, _ in summed.values()) > 0


def test_an_htmx_request_gets_the_content_region_only(client_as) -> None:
    reader = client_as("reader")
    for path in PAGES:
        full = reader.get(path).text
        part = reader.get(path, headers={"HX-Request": "true"}).text
        assert "<html" in full and "<html" not in part and "<nav>" not in part, path
        assert "<h1>" in part, path


def test_tool_page_and_unknown_tool(client_as, analyst_url: str) -> None:
    reader = client_as("reader")
    for key, table, column in (
        ("24h", "hourly_tool_usage_summary", "hour"),
        ("30d", "daily_tool_usage_summary", "day"),
    ):
        window = parse_window({"window": key})
        page = reader.get(f"/tools/bcp_0/tool_0?window={key}")
        assert page.status_code == 200
        with psycopg.connect(analyst_url, autocommit=True) as conn:
            by_operation = conn.execute(
                f"select operation, sum(total_calls), sum(failed_calls),"
                " mart_hist_quantiles(mart_hist_merge(duration_histogram), array[0.5, 0.95, 0.99])"
                f" from analytics.{table} where {column} >= %s and {column} < %s"
                " and bcp_name = 'bcp_0' and tool_name = 'tool_0' group by operation",
                (window.start, window.end),
            ).fetchall()
            detail = marts.tool_detail(conn, window, "bcp_0", "tool_0")
        assert len(by_operation) == 2  # read and write
        assert detail.calls == sum(calls for _, calls, _, _ in by_operation)
        assert sum(n for _, n in detail.distribution) == detail.calls
        shown = {cells[0]: cells[1:] for _, cells in table_rows(page.text, "operations")}
        for operation, calls, failed, qs in by_operation:
            assert shown[operation][:2] == [fmt_int(calls), fmt_int(failed)]
            assert shown[operation][2:] == [fmt_ms(q) for q in qs]
    assert reader.get("/tools/bcp_0/no_such_tool").status_code == 404


# ------------------------------------------------------------------------------ writes


def test_admin_resolves_an_error_found_by_full_text_search(client_as, warehouse: str) -> None:
    with psycopg.connect(warehouse, autocommit=True) as conn:
        error_id = conn.execute(
            "insert into error_logs (level, message, category) values"
            " ('error', 'upstream quokka gateway refused the handshake', 'external_api')"
            " returning id"
        ).fetchone()[0]
    admin = client_as("admin")
    found = admin.get("/errors?q=quokka+handshake")
    assert f'id="error-{error_id}"' in found.text
    assert f'id="error-{error_id}"' not in admin.get("/errors?q=quokka+-gateway").text
    token = csrf_of(found.text)
    empty = admin.post(f"/errors/{error_id}/resolve", data={"notes": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "may not be empty" in empty.text
    done = admin.post(
        f"/errors/{error_id}/resolve",
        data={"notes": "rotated the gateway certificate", "csrf_token": token},
    )
    assert done.status_code == 303
    row = scalar(
        warehouse,
        "select (resolved, resolution_notes, u.username, resolved_at is not null)::text"
        " from error_logs as e join users as u on u.id = e.resolved_by where e.id = %s",
        (error_id,),
    )
    assert row == '(t,"rotated the gateway certificate",admin,t)'
    assert f'id="error-{error_id}"' not in admin.get("/errors?q=quokka").text
    again = admin.post(f"/errors/{error_id}/resolve", data={"notes": "x", "csrf_token": token})
    assert again.status_code == 400 and "already resolved" in again.text


def test_admin_edits_a_retention_policy_with_a_dry_run_preview(client_as, warehouse: str) -> None:
    admin = client_as("admin")
    token = csrf_of(admin.get("/admin/retention").text)
    form = {
        "retention_days": "2",
        "cleanup_enabled": "on",
        "archive_before_delete": "on",
        "cleanup_batch_size": "500",
        "cleanup_interval_hours": "12",
        "csrf_token": token,
    }
    expected = scalar(
        warehouse,
        "select count(*) from tool_usage_logs where \"timestamp\" < now() - interval '2 days'",
    )
    assert expected > 0
    preview = admin.post("/admin/retention/tool_usage_logs", data={**form, "action": "preview"})
    # 2 days is within the marts' late-data window for a table feeding them: refused
    assert preview.status_code == 400 and "late-data window" in preview.text
    form["retention_days"] = "3"
    preview = admin.post("/admin/retention/error_logs", data={**form, "action": "preview"})
    assert preview.status_code == 200 and "Dry run for error_logs" in preview.text
    assert (
        scalar(
            warehouse,
            "select retention_days from data_retention_policies where table_name = 'error_logs'",
        )
        == 365
    )  # a preview saves nothing
    unticked = {k: v for k, v in form.items() if k != "cleanup_enabled"}
    disabled = admin.post("/admin/retention/error_logs", data={**unticked, "action": "preview"})
    assert disabled.status_code == 200 and "disabled (nothing removed)" in disabled.text
    assert "would disabled" not in disabled.text
    saved = admin.post("/admin/retention/error_logs", data={**form, "action": "save"})
    assert saved.status_code == 303
    row = scalar(
        warehouse,
        "select (p.retention_days, p.cleanup_batch_size, p.cleanup_interval_hours,"
        " u.username)::text"
        " from data_retention_policies as p join users as u on u.id = p.updated_by"
        " where p.table_name = 'error_logs'",
    )
    assert row == "(3,500,12,admin)"
    bad = admin.post(
        "/admin/retention/error_logs", data={**form, "retention_days": "soon", "action": "save"}
    )
    assert bad.status_code == 400 and "whole number" in bad.text


def test_configuration_is_validated_and_records_who_changed_it(client_as, warehouse: str) -> None:
    admin = client_as("admin")
    token = csrf_of(admin.get("/admin/config").text)
    path = "/admin/config/dashboard.refresh_interval_ms"
    for value, reason in (("fast", "must be JSON"), ("500", "minimum"), ('"5000"', "integer")):
        refused = admin.post(path, data={"value": value, "csrf_token": token})
        assert refused.status_code == 400, value
        assert reason in refused.text, refused.text[-800:]
    assert admin.post(path, data={"value": "15000", "csrf_token": token}).status_code == 303
    row = scalar(
        warehouse,
        "select (c.config_value, u.username)::text from system_configuration as c"
        " join users as u on u.id = c.updated_by"
        " where c.config_key = 'dashboard.refresh_interval_ms'",
    )
    assert row == "(15000,admin)"
    assert 'data-refresh-ms="15000"' in admin.get("/").text
    sensitive = admin.post(
        "/admin/config/integrations.api_key", data={"value": '"x"', "csrf_token": token}
    )
    assert sensitive.status_code == 400 and "SUPER_ADMIN" in sensitive.text
    # the SUPER_ADMIN may replace it (never seeing it)
    root = client_as("root")
    token = csrf_of(root.get("/admin/config").text)
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive)"
            " values ('integrations.api_key', '\"old\"', true) on conflict do nothing"
        )
    done = root.post(
        "/admin/config/integrations.api_key", data={"value": '"new-key"', "csrf_token": token}
    )
    assert done.status_code == 303
    assert (
        scalar(
            warehouse,
            "select config_value #>> '{}' from system_configuration"
            " where config_key = 'integrations.api_key'",
        )
        == "new-key"
    )


def test_settings_the_code_reads_refuse_what_their_reader_would_ignore(
    client_as, warehouse: str
) -> None:
    # every setting of a fresh install is checked when saved: by its JSON Schema, or by the
    # parser of the code that reads it (what neither checks was stored, then warned about
    # and ignored at ingest)
    unchecked = {
        row[0]
        for row in psycopg.connect(warehouse)
        .execute(
            "select config_key from system_configuration where validation_schema is null"
            # a key another test of this module adds, not one a fresh install has
            " and config_key <> 'integrations.api_key'"
        )
        .fetchall()
    }
    assert unchecked <= set(admin.SETTING_READERS), unchecked - set(admin.SETTING_READERS)
    root = client_as("root")
    token = csrf_of(root.get("/admin/config").text)
    before = scalar(
        warehouse,
        "select string_agg(config_value::text, ',' order by config_key) from system_configuration",
    )
    for key, value, reason in (
        ("analytics.event_time_window", '{"max_age_days": -1}', "less than or equal to"),
        ("analytics.event_time_window", '{"max_age": 30}', "'max_age' was unexpected"),
        ("maintenance.lock_timeout_seconds", '"soon"', "is not of type 'number'"),
        ("maintenance.warehouse_lock_timeout_seconds", "0", "less than or equal to"),
        ("analytics.redaction", '{"patterns": ["(unclosed"]}', "analytics.redaction.patterns"),
        ("analytics.redaction", '{"marker": ""}', "non-empty string"),
    ):
        refused = root.post(f"/admin/config/{key}", data={"value": value, "csrf_token": token})
        assert refused.status_code == 400, (key, value)
        assert reason in html.unescape(refused.text), (key, value, refused.text[-800:])
    after = scalar(
        warehouse,
        "select string_agg(config_value::text, ',' order by config_key) from system_configuration",
    )
    assert after == before
    done = root.post(
        "/admin/config/analytics.event_time_window",
        data={"value": '{"max_age_days": 30}', "csrf_token": token},
    )
    assert done.status_code == 303


def test_pipeline_estimates_the_rows_of_large_marts_and_keeps_the_rest_exact(
    client_as, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first view must not read every page of the largest marts (it grew with the history
    # kept); from ESTIMATE_FROM_BYTES of heap a mart shows the planner's estimate, while its
    # newest bucket and last refresh stay exact (an index; mart_refreshes, which the real
    # build's ledger writes filled), also after a build with nothing new for the mart, whose
    # post-hook leaves no mart_last_rebuilt row for it
    mart = "hourly_tool_usage_summary"

    def seq_scans(conn: psycopg.Connection) -> int:
        # this backend's scans not yet flushed to the cumulative statistics (other
        # transactions' too: hence a difference)
        return conn.execute(
            "select seq_scan from pg_stat_xact_user_tables where relid = %s::regclass",
            (f"analytics.{mart}",),
        ).fetchone()[0]

    def freshness_and_scans(
        conn: psycopg.Connection, idle: bool = False
    ) -> tuple[pipeline.MartFreshness, int]:
        with conn.transaction(force_rollback=True):
            # the test's mart is small enough for the planner to prefer a scan to its index
            conn.execute("set local enable_seqscan = off")
            if idle:
                conn.execute("delete from mart_last_rebuilt where mart = %s", (mart,))
            before = seq_scans(conn)
            found = {m.name: m for m in pipeline.freshness(conn)}[mart]
            return found, seq_scans(conn) - before

    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(f"analyze analytics.{mart}")
        monkeypatch.setattr(CACHE, "enabled", False)
        exact, scans_counting = freshness_and_scans(conn)
        monkeypatch.setattr(pipeline, "ESTIMATE_FROM_BYTES", 1)
        large, scans_estimating = freshness_and_scans(conn)
        after_idle, scans_after_idle = freshness_and_scans(conn, idle=True)
        reltuples = conn.execute(
            "select reltuples from pg_class where oid = %s::regclass", (f"analytics.{mart}",)
        ).fetchone()[0]
    assert exact.rows > 1 and not exact.rows_estimated
    assert large.rows_estimated and large.rows == round(reltuples)
    assert (large.newest_bucket, large.refreshed_at) == (exact.newest_bucket, exact.refreshed_at)
    assert (after_idle.rows, after_idle.refreshed_at) == (large.rows, exact.refreshed_at)
    # counting reads the whole heap (refreshed_at has no index); the estimate reads none of it
    assert (scans_counting, scans_estimating, scans_after_idle) == (1, 0, 0)
    # the page marks the estimate
    page = client_as("admin").get("/pipeline").text
    row = page[page.index(f'data-mart="{mart}"') :]
    assert f"≈ {fmt_int(large.rows)}" in row[: row.index("</tr>")]


def test_super_admin_manages_users(client_as, warehouse: str, app) -> None:
    root = client_as("root")
    token = csrf_of(root.get("/admin/users").text)
    created = root.post(
        "/admin/users", data={**_new_user("newcomer", "READ_ONLY"), "csrf_token": token}
    )
    assert created.status_code == 303
    assert (
        scalar(
            warehouse,
            "select u.username from users as n join users as u on u.id = n.created_by"
            " where n.username = 'newcomer'",
        )
        == "root"
    )
    weak = root.post(
        "/admin/users",
        data={"username": "weak", "password": "short", "role": "READ_ONLY", "csrf_token": token},
    )
    assert weak.status_code == 400 and "at least 8" in weak.text
    assert (
        root.post(
            "/admin/users/newcomer/role", data={"role": "ADMIN", "csrf_token": token}
        ).status_code
        == 303
    )
    assert (
        scalar(
            warehouse,
            "select (n.role, u.username)::text from users as n"
            " join users as u on u.id = n.updated_by"
            " where n.username = 'newcomer'",
        )
        == "(ADMIN,root)"
    )
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "newcomer", "newcomer-password").status_code == 303
        assert (
            root.post("/admin/users/newcomer/disable", data={"csrf_token": token}).status_code
            == 303
        )
        # disabling ends the user's sessions at once
        assert client.get("/").status_code == 303
    myself = root.post("/admin/users/root/disable", data={"csrf_token": token})
    assert myself.status_code == 400 and "yourself" in myself.text
    last = root.post("/admin/users/root/role", data={"role": "ADMIN", "csrf_token": token})
    assert last.status_code == 400 and "last active SUPER_ADMIN" in last.text


def _hourly_per_tool(
    conn: psycopg.Connection, start: datetime, end: datetime
) -> dict[tuple[str, str], tuple[int, int, float]]:
    """(calls, failed, p95 by the documented SQL) per tool of the hourly rows in [start, end)."""
    return {
        (bcp, tool): (n, failed, p95)
        for bcp, tool, n, failed, p95 in conn.execute(
            "select bcp_name, tool_name, sum(total_calls), sum(failed_calls),"
            " mart_hist_quantile(mart_hist_merge(duration_histogram), 0.95)"
            " from analytics.hourly_tool_usage_summary where hour >= %s and hour < %s"
            " group by 1, 2",
            (start, end),
        )
    }


def _tools_equal_the_hourly_mart(conn: psycopg.Connection, window: Window) -> None:
    """marts.tools of `window` against the hourly rows of the window and the previous one."""
    got = {(t.bcp_name, t.tool_name): t for t in marts.tools(conn, window)}
    for start, end, side in (
        (window.start, window.end, lambda t: (t.calls, t.errors, t.p95)),
        (window.previous.start, window.start, lambda t: (t.prev_calls, t.prev_errors, t.prev_p95)),
    ):
        expected = _hourly_per_tool(conn, start, end)
        assert expected, (window, start)
        assert {k for k, t in got.items() if side(t)[0]} == expected.keys()
        for tool, (calls, failed, p95) in expected.items():
            assert side(got[tool])[:2] == (calls, failed)
            assert side(got[tool])[2] == pytest.approx(p95, rel=1e-9)


def _kpi_calls(html: str) -> int:
    match = re.search(
        r'id="kpi-calls"><div class="label">Calls</div><div class="value">([^<]+)<', html
    )
    assert match, "no calls KPI"
    return int(match.group(1).replace(",", ""))


def test_the_page_cache_shows_a_new_build_at_once(
    client_as, warehouse: str, analyst_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from datetime import UTC, datetime, timedelta

    from mcp_analytics.dbt.runner import run_dbt
    from mcp_analytics.demo.synthetic import load_synthetic

    reader = client_as("reader")
    before = _kpi_calls(reader.get("/?window=24h").text)
    assert _kpi_calls(reader.get("/?window=24h").text) == before  # served again
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(warehouse, autocommit=True) as conn:
        load_synthetic(
            conn, start=hour - timedelta(hours=2), hours=1, calls=7, requests=0, errors=0,
            metrics=0, tag="cache", seed=0.5,
        )  # fmt: skip
    # not built yet: the page shows the marts, which have not changed
    assert _kpi_calls(reader.get("/?window=24h").text) == before
    target = tmp_path_factory.mktemp("dbt_cache")
    # the tool marts only: the page reads nothing else
    proc = run_dbt(
        ["run", "--select", "hourly_tool_usage_summary", "daily_tool_usage_summary"],
        url=warehouse,
        target_path=target,
        capture=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _kpi_calls(reader.get("/?window=24h").text) == before + 7
    # every page computed from the rows kept per bucket equals one computed from scratch
    from mcp_analytics.dashboard import versions
    from mcp_analytics.dashboard.cache import CACHE

    with psycopg.connect(analyst_url, autocommit=True) as conn:
        for key in ("24h", "7d", "30d"):
            window = parse_window({"window": key})

            def pages(window=window):
                return (
                    marts.overview(conn, window),
                    marts.tools(conn, window),
                    marts.requests(conn, window),
                    versions.versions(conn, window),
                )

            kept = pages()
            CACHE.enabled = False
            try:
                fresh = pages()
            finally:
                CACHE.enabled = True
            assert kept == fresh, key


@pytest.mark.parametrize("key", ["24h", "30d"])
def test_requests_page_equals_the_mart(client_as, analyst_url: str, key: str) -> None:
    reader = client_as("reader")
    window = parse_window({"window": key})
    expected = mart_groups(
        analyst_url,
        window,
        "hourly_request_summary",
        f"method, path, sum(total_requests), sum(failed_requests), {MERGED_QUANTILES}",
    )
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        types = dict(
            conn.execute(
                "select e.key, sum(e.value::bigint) from analytics.hourly_request_summary as r"
                " cross join lateral jsonb_each_text(r.error_type_counts) as e"
                " where r.hour >= %s and r.hour < %s group by 1",
                (window.start, window.end),
            ).fetchall()
        )
        data = marts.requests(conn, window)
    assert expected and types
    got = {
        (p["method"], p["path"]): (p["requests"], p["failed"], tuple(p["q"])) for p in data.paths
    }
    assert got.keys() == expected.keys()
    for k, (n, failed, qs) in expected.items():
        assert got[k][:2] == (n, failed)
        assert got[k][2] == pytest.approx(qs, rel=1e-9)
    assert dict(data.error_types) == types
    assert sum(sum(p[c] for c in marts.STATUS_CLASSES) for p in data.series) == sum(
        n for n, _, _ in expected.values()
    )
    assert reader.get(f"/requests?window={key}").status_code == 200


def test_a_nul_byte_is_refused_before_it_reaches_sql(client_as, warehouse: str) -> None:
    admin = client_as("admin")
    for path, status, words in (
        ("/tools/fresh-weather/%00", 404, "the tool part of the address holds a NUL character"),
        ("/clients?protocol=%00", 400, "bad query parameter protocol:"),
        ("/sessions?definition=%00", 400, "bad query parameter definition:"),
        ("/errors?q=a%00b", 400, "bad query parameter q:"),
    ):
        page = admin.get(path)
        assert page.status_code == status, (path, page.text[-800:])
        assert words in page.text and "Traceback" not in page.text, path
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive)"
            " values ('fresh.note', '\"kept\"', false) on conflict do nothing"
        )
    token = csrf_of(admin.get("/admin/config").text)
    for value, words in (
        ('"\\u0000"', "holds a NUL character (\\u0000)"),
        ("a\0", "bad value for the field value:"),
    ):
        refused = admin.post("/admin/config/fresh.note", data={"value": value, "csrf_token": token})
        assert refused.status_code == 400 and words in refused.text, refused.text[-800:]
    kept = "select config_value::text from system_configuration where config_key = 'fresh.note'"
    assert scalar(warehouse, kept) == '"kept"'

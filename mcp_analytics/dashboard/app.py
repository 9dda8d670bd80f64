"""The Starlette application: routes, rendering, sign-in and sign-out.

Pages are rendered on the server (Jinja2). HTMX reloads the page's content region in place for
auto-refresh (the same URL with the `HX-Request` header returns only that region). Charts are
drawn by ECharts from JSON data blocks the templates embed; no inline script runs (CSP).
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mcp_analytics import auth
from mcp_analytics.config import settings
from mcp_analytics.dashboard import (
    admin,
    charts,
    clients,
    errors,
    inventory,
    marts,
    pipeline,
    sessions,
    versions,
)
from mcp_analytics.dashboard.db import DashboardConfig, Pools
from mcp_analytics.dashboard.security import (
    SecurityHeadersMiddleware,
    new_login_csrf,
)
from mcp_analytics.dashboard.vendor import STATIC_DIR, missing_assets
from mcp_analytics.dashboard.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Refused,
    Viewer,
    check_csrf,
    current_viewer,
    in_thread,
    is_htmx,
    pools,
    protected,
    read_form,
    safe_next,
)
from mcp_analytics.dashboard.windows import PRESETS, Window, WindowError, parse_window

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

NAV = (
    ("/", "Overview", "READ_ONLY"),
    ("/tools", "Tools", "READ_ONLY"),
    ("/budget", "Error budget", "READ_ONLY"),
    ("/clients", "Clients", "READ_ONLY"),
    ("/versions", "Releases", "READ_ONLY"),
    ("/sessions", "Sessions", "READ_ONLY"),
    ("/inventory", "Inventory", "READ_ONLY"),
    ("/errors", "Errors", "READ_ONLY"),
    ("/requests", "Requests", "READ_ONLY"),
    ("/metrics", "Metrics", "READ_ONLY"),
    ("/pipeline", "Pipeline", "READ_ONLY"),
    ("/admin/retention", "Retention", "ADMIN"),
    ("/admin/config", "Configuration", "ADMIN"),
    ("/admin/users", "Users", "SUPER_ADMIN"),
)

#: Messages after a write, chosen by a fixed code (never text from the URL).
DONE = {
    "resolved": "Error resolved.",
    "policy": "Retention policy saved.",
    "config": "Setting saved.",
    "user": "User saved.",
}


#: what a non-HTML answer says before the first build (the pages show the same words)
NOT_BUILT = (
    "The marts are not built yet: build them with `mcp-analytics build` (or run the demo,"
    " `make demo`), then try again.\n"
)


class MissingAssetsError(RuntimeError):
    """The vendored browser libraries are absent (the message says how to get them)."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(charts.FILTERS)
    env.globals.update(
        chart_spec=charts.spec,
        chart_series=charts.series,
        chart_labels=charts.labels,
        stacked_series=charts.stacked_series,
        error_day_chart=charts.error_day_chart,
        error_class_series=charts.error_class_series,
        error_totals=marts.error_totals,
    )
    return env


class Renderer:
    """Renders templates with what every page needs (viewer, CSRF token, nav, refresh)."""

    def __init__(self) -> None:
        self.env = _environment()

    def page(
        self,
        request: Request,
        viewer: Viewer | None,
        name: str,
        context: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        refresh_ms = getattr(request.state, "refresh_ms", 10_000)
        ctx = {
            "request": request,
            "viewer": viewer,
            "csrf_token": viewer.csrf_token if viewer else "",
            "nav": [n for n in NAV if viewer and viewer.can(n[2])],
            "path": request.url.path,
            "refresh_ms": refresh_ms,
            "presets": PRESETS,
            "done": DONE.get(request.query_params.get("done", "")),
            "now": datetime.now(UTC),
            "refresh_url": None,
            "window": None,
            **context,
        }
        # An HTMX request (auto-refresh) gets the content region only.
        ctx["partial"] = is_htmx(request)
        body = self.env.get_template(name).render(ctx)
        return HTMLResponse(body, status_code=status, headers=headers)

    def refusal(self, request: Request, viewer: Viewer | None, status: int, message: str):
        context = {"message": message, "status": status}
        return self.page(request, viewer, "refused.html", context, status=status)


def _window(request: Request) -> tuple[Window, str | None]:
    try:
        return parse_window(request.query_params), None
    except WindowError as err:
        return parse_window({}), str(err)


def _analytics(
    template: str,
    load: Callable[[Any, Window, Request], dict[str, Any]],
    params: Callable[[Request], dict[str, Any]] | None = None,
) -> Callable[[Request], Any]:
    """A page of analytics: the window from the query, the marts' state, `load` on the
    analyst connection, auto-refresh of its content. `params` gives the page's own parameters
    from the query (filters the template shows even when the marts are not built yet)."""

    @protected("READ_ONLY")
    async def endpoint(request: Request, viewer: Viewer) -> Response:
        window, window_error = _window(request)

        def work() -> dict[str, Any]:
            with pools(request).analyst_conn() as conn:
                state = marts.marts_state(conn)
                data = load(conn, window, request) if state != "missing" else {}
                return {"state": state, **data}

        context = await in_thread(work)
        if params is not None:
            context = {**params(request), **context}
        if context.get("not_found"):
            return request.app.state.render_refusal(request, viewer, 404, context["not_found"])
        # the page's own parameters (sort, filters) stay in the auto-refresh URL
        kept = ("sort", "status", "definition", *clients.DIMENSIONS)
        query = window.query(**{k: v for k, v in request.query_params.items() if k in kept})
        return request.app.state.renderer.page(
            request,
            viewer,
            template,
            {
                "window": window,
                "window_error": window_error,
                "refresh_url": f"{request.url.path}?{query}",
                **context,
            },
        )

    return endpoint


# ----------------------------------------------------------------------- analytics pages


def _overview(conn, window: Window, request: Request) -> dict[str, Any]:
    return {"data": marts.overview(conn, window)}


SORTS = {
    "calls": lambda t: t.calls,
    "errors": lambda t: t.errors,
    "error_rate": lambda t: t.error_rate if t.error_rate is not None else -1,
    "p95": lambda t: t.p95 if t.p95 is not None else -1,
    "calls_change": lambda t: t.calls_change if t.calls_change is not None else float("-inf"),
    "p95_change": lambda t: t.p95_change if t.p95_change is not None else float("-inf"),
    "tool": lambda t: (t.bcp_name, t.tool_name),
}


def _sorted_tools(conn, window: Window, request: Request) -> tuple[list, str, str]:
    rows = marts.tools(conn, window)
    sort = request.query_params.get("sort", "calls")
    key, _, direction = sort.partition(".")
    if key not in SORTS:
        key = "calls"
    descending = direction != "asc" if key != "tool" else direction == "desc"
    rows.sort(key=SORTS[key], reverse=descending)
    return rows, key, "desc" if descending else "asc"


def _tools(conn, window: Window, request: Request) -> dict[str, Any]:
    rows, key, direction = _sorted_tools(conn, window, request)
    return {"tools": rows, "sort": key, "direction": direction}


def _tool(conn, window: Window, request: Request) -> dict[str, Any]:
    bcp, tool = request.path_params["bcp"], request.path_params["tool"]
    detail = marts.tool_detail(conn, window, bcp, tool)
    advertised = inventory.tool(conn, bcp, tool)
    if detail is None:
        if advertised is None:
            return {"not_found": f"no tool {tool!r} of {bcp!r} in the marts"}
        # advertised, never called: the page shows its definitions and no calls
        series = [marts.Point(b) for b in window.buckets()]
        detail = marts.ToolDetail(0, 0, None, None, None, series, bcp_name=bcp, tool_name=tool)
    with pools(request).admin_conn() as admin_conn:
        tool_errors = errors.unresolved(admin_conn, tool_name=tool, limit=10)
    return {
        "tool": detail,
        "tool_errors": tool_errors,
        "inventory": advertised,
        "versions": versions.versions(conn, window, bcp, tool),
        "regressions": versions.regressions(conn, bcp, tool),
    }


def _budget(conn, window: Window, request: Request) -> dict[str, Any]:
    return {"budget": marts.error_budget(conn, window)}


#: what the Clients page calls each filter
CLIENT_FILTERS = {
    "bcp": "server",
    "client": "client",
    "client_version": "version",
    "protocol": "protocol version",
    "transport": "transport",
}


def _clients_params(request: Request) -> dict[str, Any]:
    filt = clients.ClientFilter.from_query(request.query_params)
    return {"filt": filt, "dimension_labels": CLIENT_FILTERS}


def _clients(conn, window: Window, request: Request) -> dict[str, Any]:
    data = clients.clients(conn, window, _clients_params(request)["filt"])
    return {
        "data": data,
        "day_labels": [d.strftime("%Y-%m-%d") for d in data.days] if data else [],
    }


def _versions_params(request: Request) -> dict[str, Any]:
    return {"bcp": request.query_params.get("bcp") or None}


def _versions(conn, window: Window, request: Request) -> dict[str, Any]:
    bcp = _versions_params(request)["bcp"]
    data = versions.versions(conn, window, bcp)
    return {
        "data": data,
        "regressions": versions.regressions(conn, bcp),
        "day_labels": [d.strftime("%Y-%m-%d") for d in data.days] if data else [],
    }


def _sessions_params(request: Request) -> dict[str, Any]:
    return {"filters": {k: v for k in sessions.FILTERS if (v := request.query_params.get(k))}}


def _sessions(conn, window: Window, request: Request) -> dict[str, Any]:
    data = sessions.sessions(conn, window, request.query_params)
    return {
        "data": data,
        "day_labels": [d.strftime("%Y-%m-%d") for d in data.days] if data else [],
    }


def _requests(conn, window: Window, request: Request) -> dict[str, Any]:
    return {"data": marts.requests(conn, window)}


def _metrics(conn, window: Window, request: Request) -> dict[str, Any]:
    return {"data": marts.metrics(conn, window)}


overview_page = _analytics("overview.html", _overview)
tools_page = _analytics("tools.html", _tools)
tool_page = _analytics("tool.html", _tool)
requests_page = _analytics("requests.html", _requests)
budget_page = _analytics("budget.html", _budget)
clients_page = _analytics("clients.html", _clients, _clients_params)
versions_page = _analytics("versions.html", _versions, _versions_params)
sessions_page = _analytics("sessions.html", _sessions, _sessions_params)
metrics_page = _analytics("metrics.html", _metrics)


@protected("READ_ONLY")
async def inventory_page(request: Request, viewer: Viewer) -> Response:
    status = request.query_params.get("status") or None
    if status is not None and status not in inventory.STATUSES:
        raise Refused(404, f"no status {status!r}: choose one of {', '.join(inventory.STATUSES)}")

    def work() -> dict[str, Any]:
        with pools(request).analyst_conn() as conn:
            state = marts.marts_state(conn)
            rows = inventory.inventory(conn, status) if state != "missing" else None
            every = rows if status is None or rows is None else inventory.inventory(conn)
        counts = inventory.counts(every) if every is not None else {}
        return {"state": state, "rows": rows, "status_counts": counts}

    context = await in_thread(work)
    refresh = "/inventory" + (f"?status={status}" if status else "")
    return request.app.state.renderer.page(
        request, viewer, "inventory.html", {"status": status, "refresh_url": refresh, **context}
    )


@protected("READ_ONLY")
async def tools_csv(request: Request, viewer: Viewer) -> Response:
    window, _ = _window(request)

    def work() -> list | None:
        with pools(request).analyst_conn() as conn:
            if marts.marts_state(conn) == "missing":
                return None
            return _sorted_tools(conn, window, request)[0]

    rows = await in_thread(work)
    if rows is None:
        return PlainTextResponse(NOT_BUILT, status_code=503)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["bcp_name", "tool_name", "calls", "errors", "error_rate", "p95_ms", "avg_ms",
         "previous_calls", "previous_errors", "previous_p95_ms", "window_start", "window_end"]
    )  # fmt: skip
    for t in rows:
        writer.writerow(
            [
                _csv_safe(t.bcp_name),
                _csv_safe(t.tool_name),
                t.calls,
                t.errors,
                "" if t.error_rate is None else f"{t.error_rate:.6f}",
                "" if t.p95 is None else f"{t.p95:g}",
                "" if t.avg_ms is None else f"{t.avg_ms:.3f}",
                t.prev_calls,
                t.prev_errors,
                "" if t.prev_p95 is None else f"{t.prev_p95:g}",
                window.start.isoformat(),
                window.end.isoformat(),
            ]
        )
    name = f"tools_{window.start:%Y%m%dT%H}_{window.end:%Y%m%dT%H}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _errors_page(request: Request, viewer: Viewer, message: str | None = None, status=200):
    window, window_error = _window(request)
    query = request.query_params.get("q", "")

    def work() -> dict[str, Any]:
        with pools(request).analyst_conn() as conn:
            state = marts.marts_state(conn)
            days = marts.error_days(conn, window) if state != "missing" else []
        with pools(request).admin_conn() as conn:
            return {
                "state": state,
                "days": days,
                "errors": errors.unresolved(conn, query=query),
                "unresolved_total": errors.unresolved_count(conn),
            }

    context = await in_thread(work)
    return request.app.state.renderer.page(
        request,
        viewer,
        "errors.html",
        {
            "window": window,
            "window_error": window_error,
            "q": query,
            "message": message,
            "refresh_url": f"/errors?{window.query(q=query)}",
            **context,
        },
        status=status,
    )


@protected("READ_ONLY")
async def errors_page(request: Request, viewer: Viewer) -> Response:
    return await _errors_page(request, viewer)


@protected("ADMIN")
async def resolve_error(request: Request, viewer: Viewer) -> Response:
    try:
        error_id = int(request.path_params["error_id"])
    except ValueError:
        raise Refused(404, "no such error") from None
    notes = request.state.form.get("notes", "")

    def work() -> None:
        with pools(request).admin_conn() as conn:
            errors.resolve(conn, error_id, notes, viewer.id)

    try:
        await in_thread(work)
    except errors.ResolveError as err:
        return await _errors_page(request, viewer, str(err), status=400)
    back = request.state.form.get("back", "")
    return RedirectResponse(f"/errors?done=resolved&{back}".rstrip("&"), status_code=303)


@protected("READ_ONLY")
async def pipeline_page(request: Request, viewer: Viewer) -> Response:
    target = settings().dbt_target_dir

    def work() -> dict[str, Any]:
        with pools(request).admin_conn() as conn:
            return {
                "marts": pipeline.freshness(conn),
                "policies": pipeline.retention_policies(conn),
                "partitions": pipeline.partitions(conn),
                "archive_pending": pipeline.archive_pending(conn),
                # the target folder is shared by every database built from this checkout
                "build": pipeline.last_build(target, conn.info.dbname),
                "database": conn.info.dbname,
            }

    context = await in_thread(work)
    return request.app.state.renderer.page(
        request, viewer, "pipeline.html", {"refresh_url": "/pipeline", **context}
    )


# ------------------------------------------------------------------------------ admin


async def _admin_page(request, viewer, template, load, message=None, status=200, extra=None):

    def work() -> dict[str, Any]:
        with pools(request).admin_conn() as conn:
            return load(conn)

    context = await in_thread(work)
    return request.app.state.renderer.page(
        request,
        viewer,
        template,
        {"message": message, **context, **(extra or {})},
        status=status,
    )


def _retention_context(conn) -> dict[str, Any]:
    return {"policies": pipeline.retention_policies(conn)}


@protected("ADMIN")
async def retention_page(request: Request, viewer: Viewer) -> Response:
    return await _admin_page(request, viewer, "admin_retention.html", _retention_context)


@protected("ADMIN")
async def retention_save(request: Request, viewer: Viewer) -> Response:
    table = request.path_params["table"]
    form = request.state.form
    try:
        change = admin.PolicyChange.from_form(table, form)
        if form.get("action") == "preview":

            def preview() -> list:
                with pools(request).admin_conn() as conn:
                    return admin.preview_policy(conn, change, viewer)

            results = await in_thread(preview)
            return await _admin_page(
                request,
                viewer,
                "admin_retention.html",
                _retention_context,
                extra={"preview": results, "preview_change": change},
            )

        def save() -> None:
            with pools(request).admin_conn() as conn:
                admin.update_policy(conn, change, viewer)

        await in_thread(save)
    except admin.AdminError as err:
        return await _admin_page(
            request, viewer, "admin_retention.html", _retention_context, str(err), 400
        )
    return RedirectResponse("/admin/retention?done=policy", status_code=303)


@protected("ADMIN")
async def config_page(request: Request, viewer: Viewer) -> Response:
    return await _admin_page(
        request,
        viewer,
        "admin_config.html",
        lambda conn: {"settings": admin.config_rows(conn, viewer.role)},
    )


@protected("ADMIN")
async def config_save(request: Request, viewer: Viewer) -> Response:
    key = request.path_params["key"]
    value = request.state.form.get("value", "")

    def save() -> None:
        with pools(request).admin_conn() as conn:
            admin.update_config(conn, key, value, viewer, viewer.role)

    try:
        await in_thread(save)
    except admin.AdminError as err:
        return await _admin_page(
            request,
            viewer,
            "admin_config.html",
            lambda conn: {"settings": admin.config_rows(conn, viewer.role)},
            str(err),
            400,
        )
    return RedirectResponse("/admin/config?done=config", status_code=303)


def _users_context(conn) -> dict[str, Any]:
    return {"users": auth.list_users(conn), "roles": auth.ROLES}


@protected("SUPER_ADMIN")
async def users_page(request: Request, viewer: Viewer) -> Response:
    return await _admin_page(request, viewer, "admin_users.html", _users_context)


USER_ACTIONS = ("disable", "enable", "unlock", "role", "password")


@protected("SUPER_ADMIN")
async def users_save(request: Request, viewer: Viewer) -> Response:
    form = request.state.form
    username = str(request.path_params.get("username", ""))
    action = str(request.path_params.get("action", "create"))

    def work() -> None:
        with pools(request).admin_conn() as conn:
            if action == "create":
                admin.create_user(
                    conn,
                    form.get("username", "").strip(),
                    form.get("password", ""),
                    form.get("role", "READ_ONLY"),
                    form.get("email", "").strip() or None,
                    viewer,
                )
            elif action in ("disable", "enable"):
                admin.set_active(conn, username, action == "enable", viewer)
            elif action == "unlock":
                admin.unlock(conn, username, viewer)
            elif action == "role":
                admin.change_role(conn, username, form.get("role", ""), viewer)
            elif action == "password":
                admin.set_password(conn, username, form.get("password", ""), viewer)
            else:
                raise admin.AdminError(f"unknown action {action!r}")

    try:
        await in_thread(work)
    except admin.AdminError as err:
        return await _admin_page(request, viewer, "admin_users.html", _users_context, str(err), 400)
    return RedirectResponse("/admin/users?done=user", status_code=303)


# ------------------------------------------------------------------- sign-in, sign-out


def _client_ip(request: Request) -> str | None:
    """The peer's address when it is an IP (sessions.ip_address is inet); None otherwise
    (a unix socket, a test client)."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = request.app.state.renderer.page(
        request,
        None,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "next": safe_next(request.query_params.get("next")),
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


async def login_page(request: Request) -> Response:
    if await current_viewer(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


async def login_submit(request: Request) -> Response:
    renderer = request.app.state.renderer
    try:
        form = await read_form(request)
        check_csrf(request, form, request.cookies.get(LOGIN_CSRF_COOKIE) or "")
    except Refused as err:
        return renderer.refusal(request, None, err.status, err.message)
    username = form.get("username", "")
    password = form.get("password", "")
    client = _client_ip(request)

    def attempt() -> auth.NewSession:
        with pools(request).admin_conn() as conn:
            return auth.login(
                conn,
                username,
                password,
                ip_address=client,
                user_agent=(request.headers.get("user-agent") or "")[:500],
            )

    try:
        session = await in_thread(attempt)
    except (auth.AuthenticationError, auth.AuthConfigError):
        # The same words for every cause (unknown user, wrong password, locked, disabled).
        return _login_form(request, auth.GENERIC_FAILURE, status=401)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    max_age = max(0, int((session.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    viewer = await current_viewer(request)
    response = RedirectResponse("/login", status_code=303)
    if viewer is not None:
        try:
            form = await read_form(request)
            check_csrf(request, form, viewer.csrf_token)
        except Refused as err:
            return request.app.state.renderer.refusal(request, viewer, err.status, err.message)
        token = request.cookies.get(SESSION_COOKIE, "")

        def revoke() -> None:
            with pools(request).admin_conn() as conn:
                auth.revoke_session(conn, token)

        await in_thread(revoke)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(config: DashboardConfig | None = None) -> Starlette:
    """The dashboard application on `config`'s database (default: the project's settings).

    Raises:
        MissingAssetsError: the vendored ECharts/HTMX files are absent (run `make vendor`).
    """
    missing = missing_assets()
    if missing:
        raise MissingAssetsError(
            f"the dashboard's browser libraries are missing ({', '.join(missing)}): run "
            "`make vendor` (or python -m mcp_analytics.dashboard.vendor), which needs npm"
        )
    config = config or DashboardConfig.from_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Pools]]:
        # Lifespan state: each run of the server gets its own pools in request.state (a
        # closed psycopg pool cannot be reopened).
        pools = Pools(config)
        pools.open()
        try:
            yield {"pools": pools}
        finally:
            pools.close()

    routes = [
        Route("/", overview_page),
        Route("/tools", tools_page),
        Route("/tools.csv", tools_csv),
        Route("/tools/{bcp}/{tool}", tool_page),
        Route("/budget", budget_page),
        Route("/clients", clients_page),
        Route("/inventory", inventory_page),
        Route("/versions", versions_page),
        Route("/sessions", sessions_page),
        Route("/errors", errors_page),
        Route("/errors/{error_id}/resolve", resolve_error, methods=["POST"]),
        Route("/requests", requests_page),
        Route("/metrics", metrics_page),
        Route("/pipeline", pipeline_page),
        Route("/admin/retention", retention_page),
        Route("/admin/retention/{table}", retention_save, methods=["POST"]),
        Route("/admin/config", config_page),
        Route("/admin/config/{key}", config_save, methods=["POST"]),
        Route("/admin/users", users_page),
        Route("/admin/users", users_save, methods=["POST"]),
        Route("/admin/users/{username}/{action}", users_save, methods=["POST"]),
        Route("/login", login_page),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeadersMiddleware)
    renderer = Renderer()
    app.state.renderer = renderer
    app.state.render_refusal = renderer.refusal
    return app

"""Request plumbing: who is signed in, which role a page needs, CSRF on every form.

A page handler is `async def handler(request, viewer)` wrapped by `protected(role)`: without a
live session the browser is sent to the sign-in page (an HTMX request gets a 401 telling it to
go there), with too small a role it gets 403, and every POST must carry the session's CSRF
token. Database work runs in the thread pool (psycopg's pools are synchronous).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_analytics import auth
from mcp_analytics.dashboard import admin
from mcp_analytics.dashboard.security import same, session_csrf_token

if TYPE_CHECKING:
    from mcp_analytics.dashboard.db import Pools

SESSION_COOKIE = "mcpa_session"
LOGIN_CSRF_COOKIE = "mcpa_login_csrf"
ROLE_RANK = {"READ_ONLY": 0, "ADMIN": 1, "SUPER_ADMIN": 2}
MAX_FORM_BYTES = 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request (never carries a password hash)."""

    id: int
    username: str
    role: str
    session_id: str
    csrf_token: str

    def can(self, role: str) -> bool:
        """Whether this user's role is `role` or above."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def pools(request: Request) -> Pools:
    """The connection pools of the server run handling `request` (lifespan state)."""
    return request.state.pools


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking database work off the event loop."""
    return await run_in_threadpool(func, *args, **kwargs)


def _validate(request: Request, token: str) -> auth.SessionInfo | None:
    """The session of `token`; the auto-refresh setting is read in the same round trip
    (pipelined) into request.state.refresh_ms, for the page's header."""
    with pools(request).admin_conn() as conn, conn.pipeline():
        setting = conn.execute(admin.REFRESH_QUERY)
        info = auth.validate_session(conn, token)
        request.state.refresh_ms = admin.refresh_interval_of(setting.fetchone())
        return info


async def current_viewer(request: Request) -> Viewer | None:
    """The live session of the request's cookie, or None (no cookie, expired, revoked,
    user disabled or locked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    info = await in_thread(_validate, request, token)
    if info is None:
        return None
    return Viewer(info.user_id, info.username, info.role, info.id, session_csrf_token(token))


def safe_next(target: str | None) -> str:
    """A local path to go back to after sign-in; anything else (another host, a scheme,
    `//host`, a backslash trick) becomes `/`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(safe_next(target), safe='')}"
    if is_htmx(request):
        # HTMX follows HX-Redirect with a full page load
        return Response("session expired", status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _origin_ok(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.url.netloc


class Refused(Exception):
    """A request refused with `status` and a message the page shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: PostgreSQL text cannot hold a NUL character: one in a parameter would end as a traceback
#: (DataError) where the value meets SQL, so requests carrying one are refused up front.
NUL = "\0"


def shown(name: str) -> str:
    """A parameter's name for a message, a NUL in it written %00."""
    return name.replace(NUL, "%00")


def refuse_nul(request: Request) -> None:
    """Refuse a request whose path segments or query parameters hold a NUL character (%00).

    Raises:
        Refused: 404 for a path segment (no page has such a name), 400 naming the query
            parameter.
    """
    for name, value in request.path_params.items():
        if NUL in str(value):
            raise Refused(
                404, f"not found: the {name} part of the address holds a NUL character (%00)"
            )
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise Refused(
                400,
                f"bad query parameter {shown(name)}: it holds a NUL character (%00); remove it",
            )


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as text fields (files are refused), at most MAX_FORM_BYTES.

    Raises:
        Refused: 413 for a larger body, 400 for a malformed one or a field holding a NUL
            character.
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise Refused(413, "form too large")
    try:
        form = await request.form(max_files=0, max_fields=200)
    except Exception as err:  # noqa: BLE001 - multipart/urlencoded parser errors vary
        raise Refused(400, f"malformed form: {type(err).__name__}") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    for name, value in fields.items():
        if NUL in name or NUL in value:
            raise Refused(
                400, f"bad value for the field {shown(name)}: it holds a NUL character; remove it"
            )
    return fields


def check_csrf(request: Request, form: dict[str, str], expected: str) -> None:
    """Refuse (403) a POST whose CSRF token (form field or X-CSRF-Token header) is not
    `expected`, or whose Origin is another site.

    Raises:
        Refused: 403 with the reason.
    """
    if not _origin_ok(request):
        raise Refused(403, "refused: this form was posted from another site")
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not same(sent, expected):
        raise Refused(403, "refused: the form's security token is missing or stale; reload it")


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def protected(role: str = "READ_ONLY") -> Callable[[Handler], Callable[[Request], Awaitable]]:
    """Wrap a page handler: sign-in required, at least `role`, CSRF on POST (the form is then
    in `request.state.form`)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            viewer = await current_viewer(request)
            if viewer is None:
                return _to_login(request)
            render = request.app.state.render_refusal
            try:
                refuse_nul(request)
                if request.method == "POST":
                    form = await read_form(request)
                    check_csrf(request, form, viewer.csrf_token)
                    request.state.form = form
                if not viewer.can(role):
                    raise Refused(
                        403, f"refused: this needs the {role} role (you are {viewer.role})"
                    )
                return await handler(request, viewer)
            except Refused as err:
                return render(request, viewer, err.status, err.message)

        return endpoint

    return wrap

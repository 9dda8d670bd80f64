"""Helpers of the dashboard tests: the test users and signing in through the real form."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

#: username -> (password, role)
USERS = {
    "reader": ("reader-password-1", "READ_ONLY"),
    "admin": ("admin-password-1", "ADMIN"),
    "root": ("root-password-1", "SUPER_ADMIN"),
}

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token of a page's forms."""
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str):
    """GET /login, then POST the form with its token; returns the POST's response."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )

"""A real dashboard server (uvicorn in a thread) and Debian's headless Chromium driven by
Playwright, for the browser tests and `make screenshots`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp_analytics.dashboard import DashboardConfig, create_app
from tests.helpers.web import serving_app

CHROMIUM = Path("/usr/bin/chromium")
#: Debian's chromium, headless, with nothing that reaches the network by itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def live_server(config: DashboardConfig) -> Iterator[str]:
    """Serve the dashboard on 127.0.0.1 in a thread; yields its base URL."""
    with serving_app(create_app(config), name="dashboard", start_timeout=30) as (port, _server):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Browser on /usr/bin/chromium (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

"""`make screenshots`: pictures of the dashboard's main pages for README.md and the docs.

`python -m tests.dashboard.screenshots OUT_DIR [--tool-calls 200000]`: a throwaway database
with the demo workload (30 days), the marts built by dbt, a SUPER_ADMIN made for the occasion,
the dashboard served on 127.0.0.1, and Debian's chromium (apt-get install chromium) taking one
PNG per page; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from mcp_analytics import auth
from mcp_analytics.config import settings
from mcp_analytics.dashboard import DashboardConfig
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.dashboard.browser import CHROMIUM, chromium, live_server

PASSWORD = "screenshot-password-1"
#: file name -> (path, what to wait for)
PAGES = {
    "overview": ("/?window=30d", "[data-chart-name=chart-latency][data-drawn=yes]"),
    "tools": ("/tools?window=7d", ".spark[data-drawn=yes]"),
    "tool": (None, "[data-chart-name=chart-distribution][data-drawn=yes]"),
    "budget": ("/budget?window=30d", ".spark[data-drawn=yes]"),
    "clients": ("/clients?window=30d", "[data-chart-name=chart-protocols][data-drawn=yes]"),
    "releases": ("/versions?window=30d", "[data-chart][data-drawn=yes]"),
    "sessions": ("/sessions?window=30d", "[data-chart-name=chart-sessions][data-drawn=yes]"),
    "inventory": ("/inventory", "#inventory"),
    "errors": ("/errors?window=7d", "#unresolved"),
    "requests": ("/requests?window=7d", "[data-chart-name=chart-status][data-drawn=yes]"),
    "metrics": ("/metrics?window=24h", "[data-chart][data-drawn=yes]"),
    "pipeline": ("/pipeline", "#marts"),
    "retention": ("/admin/retention", "#retention"),
}


def _database() -> tuple[str, str]:
    import os

    server = os.environ.get("DATABASE_URL") or db.server_url()
    name = f"mcpa_screens_{uuid.uuid4().hex[:8]}"
    admin = db.with_database(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return admin, db.with_database(server, name)


def shoot(out_dir: Path, tool_calls: int) -> list[Path]:
    """Write one PNG per page of PAGES into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    admin, url = _database()
    written = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        load(url, WorkloadSpec(days=30, tool_calls=tool_calls, seed=42, end=default_end()))
        with tempfile.TemporaryDirectory() as target:
            proc = run_dbt(["run"], url=url, target_path=Path(target), capture=True)
            if proc.returncode:
                raise SystemExit(f"dbt run failed:\n{proc.stdout[-3000:]}")
        with psycopg.connect(url, autocommit=True) as conn:
            auth.create_user(conn, "alice", PASSWORD, role="SUPER_ADMIN", email="alice@example.org")
            bcp, tool = conn.execute(
                "select bcp_name, tool_name from analytics.daily_tool_usage_summary"
                " group by 1, 2 order by sum(total_calls) desc limit 1"
            ).fetchone()
        config = DashboardConfig(admin_url=url, analyst_url=url)
        with live_server(config) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{base}/login")
            page.screenshot(path=str(out_dir / "login.png"))
            written.append(out_dir / "login.png")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{base}/")
            for name, (path, ready) in PAGES.items():
                page.goto(base + (path or f"/tools/{bcp}/{tool}?window=7d"))
                page.wait_for_selector(ready)
                page.wait_for_timeout(300)
                target_file = out_dir / f"{name}.png"
                page.screenshot(path=str(target_file))
                written.append(target_file)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            name = db.libpq_params(url)["dbname"]
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dashboard.screenshots")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tool-calls", type=int, default=200_000, help="demo calls (200,000)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"screenshots need {CHROMIUM}: apt-get install -y chromium", file=sys.stderr)
        return 2
    for path in shoot(args.out_dir, args.tool_calls):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Pipeline page's "Last dbt build" shows only a build of the page's own database.

A checkout's dbt target folder is shared by every database built from it (the tests' databases,
a demo and a production warehouse on one machine): two real dbt runs of two databases into one
target folder, one in an invocation folder as Dagster's runs do and a newer one at its root as
`mcp-analytics build` writes. Each database finds its own; a never-built one finds none, and
its page says so and how to build it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from starlette.testclient import TestClient

from mcp_analytics import auth
from mcp_analytics.config import Settings, settings
from mcp_analytics.dashboard import DashboardConfig, create_app
from mcp_analytics.dashboard.pipeline import last_build
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.dashboard.helpers import USERS, sign_in


def _name(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def _build(url: str, target: Path) -> None:
    proc = run_dbt(["run", "--select", "stg_mcp__users"], url=url, target_path=target, capture=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _pipeline_page(url: str) -> str:
    username = "root"
    password, role = USERS[username]
    with psycopg.connect(url, autocommit=True) as conn:
        auth.create_user(conn, username, password, role=role)
    app = create_app(DashboardConfig(admin_url=url, analyst_url=url))
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, username, password)
        page = client.get("/pipeline")
    assert page.status_code == 200, page.text[-2000:]
    return page.text


def test_each_database_sees_only_its_own_build(
    bootstrapped_db: str,
    module_db: str,
    empty_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "target"
    # this database's build is the older one, in a Dagster-style invocation folder; the
    # newest results, at the root, are of another database
    _build(bootstrapped_db, target / "dbt_models-abcdef0-1234567")
    _build(module_db, target)
    mine, other = last_build(target, _name(bootstrapped_db)), last_build(target, _name(module_db))
    assert mine is not None and other is not None
    assert [n["name"] for n in mine["nodes"] if n["kind"] == "model"] == ["stg_mcp__users"]
    assert mine["generated_at"] < other["generated_at"]
    assert mine["command"] == other["command"] == "run"
    # a database that was never built sees no build at all, not the newest one of another
    never_built = empty_db
    assert last_build(target, _name(never_built)) is None

    # the page, on that target folder
    monkeypatch.setattr(Settings, "dbt_target_dir", property(lambda _self: target))
    assert settings().dbt_target_dir == target
    with psycopg.connect(never_built, autocommit=True) as conn:
        bootstrap(conn, settings().bootstrap_dir)
    page = _pipeline_page(never_built)
    assert "No build recorded for this database" in page
    assert f"<code>{_name(never_built)}</code>" in page and "mcp-analytics build" in page
    assert other["generated_at"] not in page
    page = _pipeline_page(bootstrapped_db)
    assert f"run at {mine['generated_at']}" in page and "No build recorded" not in page

"""Fixtures of the dashboard tests: one warehouse per module with three days of synthetic
telemetry built into the marts by the real dbt, users of each role, and the app reading the
marts as a real `mcp_analyst` login."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from starlette.testclient import TestClient

from mcp_analytics import auth
from mcp_analytics.analytics.inventory import Inventory, fetch, store
from mcp_analytics.dashboard import DashboardConfig, create_app
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.demo.synthetic import load_synthetic
from tests.dashboard.helpers import USERS, inventory_server, sign_in
from tests.helpers.db import url_as

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
#: when bcp_0's version 1.1.0 took over from 1.0.0 in the synthetic telemetry
RELEASED_AT = NOW - timedelta(hours=36)


def _fetch_in_thread(server) -> Inventory:
    # a thread of its own: anyio.run refuses one that runs an event loop (Playwright's)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fetch, server).result()


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bootstrapped database with 3 days of telemetry up to the current hour, two inventory
    snapshots of bcp_0 (a real MCP server in memory), built."""
    with psycopg.connect(module_db, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(hours=71), hours=72, seed=0.3)
        # bcp_0 released 1.1.0 36 hours ago, and tool_0 got 4x slower with it (a regression
        # once 20 calls a side count: the synthetic load has ~60)
        conn.execute(
            'update tool_usage_logs set tool_version = case when "timestamp" < %s'
            " then '1.0.0' else '1.1.0' end,"
            " duration_ms = case when \"timestamp\" >= %s and tool_name = 'tool_0'"
            " then duration_ms * 4 else duration_ms end"
            " where bcp_name = 'bcp_0'",
            (RELEASED_AT, RELEASED_AT),
        )
        # calls that name no client carry no transport session either: sessions by idle gaps
        conn.execute("update tool_usage_logs set session_id = null where client_name is null")
        conn.execute(
            "update system_configuration set config_value ="
            " jsonb_set(config_value, '{min_calls}', '20')"
            " where config_key = 'analytics.regressions'"
        )
        for username, (password, role) in USERS.items():
            auth.create_user(conn, username, password, role=role)
        # bcp_0 advertises tool_0, tool_1 and a tool nobody calls (its tool_2 and tool_3 are
        # called, not advertised); tool_0's description changes between the two snapshots
        for hours_ago, description in ((60, "First wording."), (30, "Second wording.")):
            store(
                conn,
                _fetch_in_thread(inventory_server("bcp_0", description)),
                source="cli",
                endpoint="memory://bcp_0",
                taken_at=NOW - timedelta(hours=hours_ago),
            )
    target = tmp_path_factory.mktemp("dbt_target")
    proc = run_dbt(["run"], url=module_db, target_path=target, capture=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return module_db


@pytest.fixture(scope="module")
def analyst_url(warehouse: str) -> Iterator[str]:
    """A LOGIN role that is a member of mcp_analyst only (dropped afterwards)."""
    name = f"mcpa_dash_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login password {} in role mcp_analyst").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    try:
        yield url_as(warehouse, name, password)
    finally:
        with psycopg.connect(warehouse, autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def app(warehouse: str, analyst_url: str):
    return create_app(DashboardConfig(admin_url=warehouse, analyst_url=analyst_url))


@pytest.fixture(scope="module")
def anonymous(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def client_as(app) -> Iterator[Callable[[str], TestClient]]:
    """`client_as(username)`: a TestClient signed in as one of USERS (one per user, kept)."""
    clients: dict[str, TestClient] = {}

    def get(username: str) -> TestClient:
        if username not in clients:
            client = TestClient(app, follow_redirects=False)
            client.__enter__()
            sign_in(client, username, USERS[username][0])
            clients[username] = client
        return clients[username]

    yield get
    for client in clients.values():
        client.__exit__(None, None, None)

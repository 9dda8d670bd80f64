"""The SQL of docs/analytics.md, run against a small demo built with dbt: each answer is what
the workload put in (docs/demo.md): every error class, the clients of each protocol era, the
inventory's statuses, the changed definition, and the one release regression.

The demo is small (40,000 calls), so most tools have a few hundred calls per version, where a
p95 from 100 calls moves by more than 25 % between two samples of the same latencies, and each
tool compared is a false alarm at rate alpha: for "that regression and nothing else" to hold
whatever the hour the demo ends in, the test compares only tools with MIN_CALLS calls a side at
ALPHA, as an operator with little traffic might (the default demo's million calls, checked at
the default thresholds, show the one regression and nothing else)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from mcp_analytics.config import settings
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import (
    CATALOGUE,
    CHANGED_DEFINITION,
    CLIENTS,
    ERROR_KINDS,
    REGRESSION,
    STATELESS_PROTOCOL,
    WorkloadSpec,
    default_end,
)
from tests.analytics.warehouse import Warehouse

pytestmark = pytest.mark.slow

SPEC = WorkloadSpec(days=7, tool_calls=40_000, seed=42, end=default_end() - timedelta(days=1))
MIN_CALLS = 1000
ALPHA = 0.001
DOC = settings().project_dir / "docs" / "analytics.md"


def doc_query(first_line: str) -> str:
    """The ```sql block of docs/analytics.md whose first line is `-- <first_line>`; a block
    holding several queries is cut at the one that starts there."""
    text = Path(DOC).read_text()
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL):
        for query in re.split(r"\n\s*\n", block):
            if query.strip().startswith(f"-- {first_line}"):
                return query
    raise AssertionError(f"docs/analytics.md has no query '-- {first_line}'")


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    result = load(module_db, SPEC)
    assert result.skipped is None and result.loaded["inventory snapshots"] > 0
    built = Warehouse(module_db, tmp_path_factory.mktemp("dbt_target"))
    with built.connect() as conn:
        conn.execute(
            "update system_configuration set config_value = config_value"
            " || jsonb_build_object('min_calls', %s::int, 'alpha', %s::float)"
            " where config_key = 'analytics.regressions'",
            (MIN_CALLS, ALPHA),
        )
    built.dbt("run")
    return built


def _exists(warehouse: Warehouse, relation: str) -> bool:
    return warehouse.scalar("select to_regclass(%s) is not null", (relation,))


def test_which_tools_fail_and_whose_fault(warehouse: Warehouse) -> None:
    rows = warehouse.rows(doc_query("which tools fail, and whose fault is it"))
    assert rows
    totals = [sum(r[i] for r in rows) for i in range(3, 7)]
    # the workload's codes, by the class it gave each (the same rule as ingest)
    by_class: dict[str, list[str]] = {}
    for kind in ERROR_KINDS:
        by_class.setdefault(kind.error_class, []).append(kind.wire_code)
    expected = []
    for cls in ("tool_error", "caller_error", "server_error", "transport_error"):
        expected.append(
            warehouse.scalar(
                """select count(*) from tool_usage_logs
                   where not success and error_code = any(%s)
                     and date_trunc('day', "timestamp", 'UTC') >= now() - interval '7 days'""",
                (by_class[cls],),
            )
        )
    assert totals == expected
    assert all(n > 0 for n in totals), totals  # every class is in the demo


def test_which_clients_still_speak_the_old_protocol(warehouse: Warehouse) -> None:
    rows = warehouse.rows(doc_query("who still speaks the pre-2026-07-28 protocol"))
    old = {(c.name, c.version, c.protocol) for c in CLIENTS if c.protocol != STATELESS_PROTOCOL}
    assert {r[:3] for r in rows} == old
    last_seen = {r[0]: r[3] for r in rows}
    cursor = next(c for c in CLIENTS if c.upgrade is not None)
    assert cursor.upgrade is not None
    upgraded_at = SPEC.start + (SPEC.end - SPEC.start) * cursor.upgrade[0]
    # Cursor 1.4.2 stops when it upgrades (its last session may run a little past it); the
    # clients that never upgrade go on calling after that
    assert upgraded_at - timedelta(hours=12) < last_seen[cursor.name]
    assert last_seen[cursor.name] < upgraded_at + timedelta(hours=2)
    for name, seen in last_seen.items():
        if name != cursor.name:
            assert seen > upgraded_at + timedelta(hours=2), name
    # and the stateless ones are there, on 2026-07-28 only
    stateless = warehouse.rows(
        "select distinct client_name from analytics.daily_client_summary"
        " where protocol_version = %s",
        (STATELESS_PROTOCOL,),
    )
    assert {n for (n,) in stateless} == {
        c.name for c in CLIENTS if STATELESS_PROTOCOL in (c.protocol, (c.upgrade or ("",) * 3)[2])
    }


def test_advertised_but_unused_and_used_but_not_advertised(warehouse: Warehouse) -> None:
    rows = warehouse.rows(doc_query("advertised but unused, and used but not advertised"))
    assert {r[:3] for r in rows} == {
        ("hubspot-cms", "export_site_backup", "never_called"),
        ("hubspot-crm", "get_contact_v1", "not_advertised"),
    }
    called = {r[1]: r[3] for r in rows}
    assert called["export_site_backup"] == 0 and called["get_contact_v1"] > 0


def test_what_changed_when_a_definition_changed(warehouse: Warehouse) -> None:
    rows = warehouse.rows(doc_query("what changed, and did errors follow"))
    assert [r[:2] for r in rows] == [CHANGED_DEFINITION]
    _, _, first_seen, changed_fields, before, after = rows[0]
    assert changed_fields == ["description", "inputSchema"]
    bcp = next(b for b in CATALOGUE if b.name == CHANGED_DEFINITION[0])
    released = SPEC.start + (SPEC.end - SPEC.start) * bcp.deploys[0]
    assert abs(first_seen - released) < timedelta(seconds=1)
    assert before is not None and after is not None  # calls on both sides of the change


def test_the_last_release_regressed_one_tool(warehouse: Warehouse) -> None:
    if not _exists(warehouse, "analytics.tool_regressions"):
        pytest.skip("analytics.tool_regressions is not in this dbt project")
    rows = warehouse.rows(doc_query("did the last release make a tool slower or flakier"))
    assert {r[:2] for r in rows} == {REGRESSION}
    assert min(min(r[9], r[10]) for r in rows) >= MIN_CALLS
    bcp = next(b for b in CATALOGUE if b.name == REGRESSION[0])
    assert {(r[2], r[3]) for r in rows} == {(bcp.versions[-2], bcp.versions[-1])}
    # both ways it got worse: slower (p95 ratio) and flakier (error rate, p < 0.01)
    by_metric = {r[4]: r for r in rows}
    assert set(by_metric) == {"p95_duration_ms", "error_rate"}
    assert float(by_metric["p95_duration_ms"][7]) > 1.25
    assert by_metric["error_rate"][8] < ALPHA
    assert by_metric["error_rate"][6] > by_metric["error_rate"][5]

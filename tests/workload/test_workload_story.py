"""What the demo's generator puts in for the MCP-aware questions, read from its own lines (no
database): every error class, both protocol eras, the advertised definitions per release."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from mcp_analytics.analytics.error_classes import ERROR_CLASSES
from mcp_analytics.demo.workload import (
    CATALOGUE,
    CHANGED_DEFINITION,
    ERROR_KINDS,
    STATELESS_PROTOCOL,
    TOOL_ROW,
    Batch,
    Generator,
    WorkloadSpec,
    advertised_inventory,
    advertised_tools,
    inventory_snapshots,
)

SPEC = WorkloadSpec(days=3, tool_calls=6_000, seed=5, end=datetime(2026, 11, 20, tzinfo=UTC))


def _tool_rows() -> list[dict[str, str]]:
    gen = Generator(SPEC, list(range(1, 301)), 301)
    out: dict[str, Batch] = {}
    for day in gen.days():
        gen.generate_day(day, out)
    lines = [line for batch in out.values() for line in batch.tool] + gen.late_tool
    return [
        dict(zip(TOOL_ROW.columns, line.rstrip("\n").split("\t"), strict=True)) for line in lines
    ]


def test_every_error_class_and_era_is_in_the_calls() -> None:
    rows = _tool_rows()
    classes = Counter(r["error_class"] for r in rows)
    assert set(classes) == set(ERROR_CLASSES)
    assert {k.error_class for k in ERROR_KINDS} == set(ERROR_CLASSES) - {"ok"}
    # successes are ok, failures carry the class of their code
    for r in rows:
        assert (r["success"] == "t") == (r["error_class"] == "ok")
    # stateless 2026-07-28 calls have no session id, the older protocols always one
    for r in rows:
        stateless = r["protocol_version"] == STATELESS_PROTOCOL
        assert (r["session_id"] == "\\N") == stateless, r
    assert {r["protocol_version"] for r in rows} == {"2025-06-18", "2025-11-25", STATELESS_PROTOCOL}
    # the advertised tool nobody calls is never called; the unlisted one is
    called = {r["tool_name"] for r in rows}
    assert "export_site_backup" not in called and "get_contact_v1" in called


def test_the_definitions_of_each_release() -> None:
    crm = next(i for i, b in enumerate(CATALOGUE) if b.name == CHANGED_DEFINITION[0])

    def fingerprints(version: int) -> dict[str, str]:
        return {d.name: d.fingerprint for d in advertised_inventory(crm, version).definitions}

    first, second, third = fingerprints(0), fingerprints(1), fingerprints(2)
    assert "get_contact_v1" in first and "get_contact_v1" not in second
    changed = {n for n in second if first.get(n) != second[n]}
    assert changed == {CHANGED_DEFINITION[1]}
    assert second == third  # a release that changes no definition
    cms = next(i for i, b in enumerate(CATALOGUE) if b.name == "hubspot-cms")
    assert "export_site_backup" in {d["name"] for d in advertised_tools(cms, 0)}
    # snapshots at the start, each release and the end, in time order, within the span
    taken = inventory_snapshots(SPEC)
    assert len(taken) == sum(len(b.versions) + 1 for b in CATALOGUE)
    assert [t for _, _, t in taken] == sorted(t for _, _, t in taken)
    assert all(SPEC.start <= t < SPEC.end for _, _, t in taken)

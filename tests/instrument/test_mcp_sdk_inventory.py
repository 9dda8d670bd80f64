"""The SDK instrumentation records the lists it serves into the tool inventory: a real
`MCPServer` (tests/analytics/servers/catalog.py), a real in-memory `Client(server)`, the real
collector and bootstrap_sql's mcp_record_inventory. Same definitions and fingerprints as a
snapshot taken as a client, under the server's own name; an unchanged list is not recorded
again until its refresh is due; a tools-only snapshot carries the prompts and resources of the
previous snapshot over."""

from __future__ import annotations

import asyncio

import psycopg
from mcp import Client

from mcp_analytics.analytics.inventory import fetch_async, store
from mcp_analytics.collector import Collector
from mcp_analytics.collector.mcp_sdk import instrument
from tests.analytics.servers.catalog import NAME, build, serving
from tests.helpers.db import rows


async def _list(server, *, tools: int = 1, prompts: int = 0) -> None:
    async with Client(server) as client:
        for _ in range(tools):
            await client.list_tools()
        for _ in range(prompts):
            await client.list_prompts()


def _snapshots(url: str) -> list[tuple]:
    return rows(
        url,
        "select id, bcp_name, server_version, source, endpoint, tools, prompts, resources"
        " from mcp_inventory_snapshots order by id",
    )


def _current(url: str, snapshot_id: int) -> set[tuple]:
    with psycopg.connect(url) as conn:
        return set(
            conn.execute(
                "select kind, name, fingerprint, times_seen from mcp_definition_versions"
                " where last_snapshot_id = %s",
                (snapshot_id,),
            ).fetchall()
        )


def test_served_lists_are_recorded_with_the_snapshot_fingerprints(bootstrapped_db, tmp_path):
    server = build("1.0.0")
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector, bcp_name="telemetry-alias")
        asyncio.run(_list(server, tools=3, prompts=1))
        assert collector.flush(timeout=30)
        stats = collector.stats
    assert stats["inventory_recorded"] == stats["inventory_written"] == 2
    rows = _snapshots(bootstrapped_db)
    # one snapshot per list kind (the same tools list served three times is recorded once),
    # under the server's own name, each counting only the kind it read
    assert [r[1:] for r in rows] == [
        (NAME, "1.0.0", "instrumentation", "in-process", 3, None, None),
        (NAME, "1.0.0", "instrumentation", "in-process", None, 1, None),
    ]
    # the same definitions and fingerprints as a snapshot taken as a client
    as_client = asyncio.run(fetch_async(build("1.0.0")))
    expected = {(d.kind, d.name, d.fingerprint) for d in as_client.of_kind("tool")}
    expected |= {(d.kind, d.name, d.fingerprint) for d in as_client.of_kind("prompt")}
    assert {v[:3] for v in _current(bootstrapped_db, rows[-1][0])} == expected


def test_an_unchanged_list_is_recorded_again_when_its_refresh_is_due(bootstrapped_db, tmp_path):
    server = build("1.0.0")
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector, inventory_refresh_s=0)
        asyncio.run(_list(server, tools=2))
        assert collector.flush(timeout=30)
    rows = _snapshots(bootstrapped_db)
    assert len(rows) == 2
    # the second extends the periods of the first: seen twice, one version each
    assert {(k, n, t) for k, n, _, t in _current(bootstrapped_db, rows[-1][0])} == {
        ("tool", "search", 2),
        ("tool", "legacy_export", 2),
        ("tool", "create_issue", 2),
    }


def test_no_recording_when_turned_off(bootstrapped_db, tmp_path):
    server = build("1.0.0")
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector, inventory_refresh_s=None)
        asyncio.run(_list(server, tools=1))
        assert collector.flush(timeout=30)
    assert _snapshots(bootstrapped_db) == []


def test_a_tools_snapshot_carries_the_other_kinds_over(bootstrapped_db, tmp_path):
    # a full snapshot taken as a client first, then the changed server serves its tools
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        full = store(conn, asyncio.run(fetch_async(build("1.0.0"))), source="cli", endpoint="x")
    server = build("1.1.0", changed=True)
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector)
        asyncio.run(_list(server, tools=1))
        assert collector.flush(timeout=30)
    latest = _snapshots(bootstrapped_db)[-1]
    assert latest[1:] == (NAME, "1.1.0", "instrumentation", "in-process", 3, None, None)
    current = _current(bootstrapped_db, latest[0])
    # the new tool list, and the prompt and resources the full snapshot read, not seen again
    assert {(k, n) for k, n, _, _ in current} == {
        ("tool", "search"),
        ("tool", "archive"),
        ("tool", "create_issue"),
        ("prompt", "triage"),
        ("resource", "file:///readme.md"),
        ("resource_template", "issues://{issue_id}"),
    }
    assert {(k, t) for k, _, _, t in current if k != "tool"} == {
        ("prompt", 1),
        ("resource", 1),
        ("resource_template", 1),
    }
    with psycopg.connect(bootstrapped_db) as conn:
        search = conn.execute(
            "select first_snapshot_id, last_snapshot_id from mcp_definition_versions"
            " where name = 'search' order by id"
        ).fetchall()
        prompt_seen = conn.execute(
            "select last_seen_at = (select taken_at from mcp_inventory_snapshots where id = %s)"
            " from mcp_definition_versions where name = 'triage'",
            (full,),
        ).fetchone()[0]
    # search changed: the old version's period ended at the full snapshot, a new one opened
    assert search == [(full, full), (latest[0], latest[0])]
    assert prompt_seen  # carried over, not seen again


def test_kinds_are_checked(bootstrapped_db):
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        for kinds, message in (
            (["tool", "widget"], "kinds must be some of"),
            ("tool", "kinds must be an array"),
        ):
            try:
                conn.execute(
                    "select mcp_record_inventory(jsonb_build_object('bcp_name', 's',"
                    " 'source', 'cli', 'definitions', '[]'::jsonb, 'kinds', %s::jsonb))",
                    (psycopg.types.json.Jsonb(kinds),),
                )
            except psycopg.errors.InvalidParameterValue as err:
                assert message in str(err)
            else:
                raise AssertionError(f"kinds {kinds!r} accepted")


def test_a_snapshot_the_database_refuses_is_kept_with_the_reason(bootstrapped_db, tmp_path):
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        collector.record_inventory({"bcp_name": "s", "source": "instrumentation", "kinds": "x"})
        collector.record_inventory(
            {"bcp_name": "s", "source": "instrumentation", "definitions": [], "kinds": ["tool"]}
        )
        assert collector.flush(timeout=30)
        stats = collector.stats
    assert (stats["inventory_refused"], stats["inventory_written"]) == (1, 1)
    with psycopg.connect(bootstrapped_db) as conn:
        reason, target = conn.execute(
            "select reason, target_table from ingest_rejects where source = 'collector'"
        ).fetchone()
        snapshots = conn.execute("select count(*) from mcp_inventory_snapshots").fetchone()[0]
    assert "kinds must be an array" in reason and target == "mcp_inventory_snapshots"
    assert snapshots == 1  # the good one after it was stored all the same


def test_over_streamable_http_the_endpoint_is_the_served_url(bootstrapped_db, tmp_path):
    server = build("1.0.0")
    with Collector(bootstrapped_db, spool_dir=tmp_path) as collector:
        instrument(server, collector)
        with serving(server) as url:
            asyncio.run(_list(url, tools=1))
        assert collector.flush(timeout=30)
    with psycopg.connect(bootstrapped_db) as conn:
        row = conn.execute(
            "select bcp_name, source, endpoint, protocol_version, tools"
            " from mcp_inventory_snapshots"
        ).fetchone()
    assert row[:3] == (NAME, "instrumentation", url)
    assert row[3] and row[4] == 3

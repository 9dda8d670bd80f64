"""User ids that match no row of `users`: stored (user_id null, the id kept), counted, cheap.

Checked before COPY against a cache refreshed on a miss, so a file full of unknown ids is not
bisected row by row; `resolved_by` (a user of this warehouse, never an MCP server's) that
matches no user is a reject with its reason, also found before COPY.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import prepare
from mcp_analytics.ingest.loader import load
from mcp_analytics.ingest.writer import KnownUsers, write_batch
from tests.helpers.collector import record_call
from tests.helpers.db import column, scalar

TS = "2026-05-06T10:00:00Z"


def _users(url: str, n: int) -> list[int]:
    return column(
        url,
        "insert into users (username, password_hash)"
        " select 'known_' || g, 'x' from generate_series(1, %s) as g returning id",
        (n,),
    )


def _tool(i: int, user_id: int | None) -> dict:
    return {
        "table": "tool_usage_logs",
        "execution_id": f"u-{i}",
        "bcp_name": "users",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 1,
        "timestamp": TS,
        "user_id": user_id,
    }


@pytest.mark.parametrize("workers", [0, 1])
def test_half_unknown_user_ids_are_stored_counted_and_not_rejected(
    bootstrapped_db, tmp_path, workers
):
    known = _users(bootstrapped_db, 3)
    unknown = [900_001, 900_002, 900_003 + workers]
    lines, expect = [], {}
    for i in range(4000):
        uid = unknown[i % 3] if i % 2 else (known[i % 3] if i % 4 else None)
        lines.append(json.dumps(_tool(i, uid)))
        expect[f"u-{i}"] = uid
    # Requests and errors carry user ids too; an unknown resolved_by is a reject.
    lines.append(
        json.dumps(
            {
                "table": "mcp_request_logs",
                "request_id": "r-1",
                "method": "POST",
                "path": "/mcp",
                "response_status_code": 200,
                "duration_ms": 1,
                "success": True,
                "timestamp": TS,
                "user_id": 900_009,
            }
        )
    )
    lines.append(
        json.dumps(
            {
                "table": "error_logs",
                "level": "error",
                "message": "e1",
                "timestamp": TS,
                "user_id": 900_010,
                "resolved_by": known[0],
            }
        )
    )
    lines.append(
        json.dumps(
            {
                "table": "error_logs",
                "level": "error",
                "message": "e2",
                "timestamp": TS,
                "resolved_by": 900_011,
                "context": {"password": "LEAKME-9"},
            }
        )
    )
    path = tmp_path / "users.ndjson"
    path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "r.jsonl"
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        summary = load([path], conn=conn, workers=workers, batch_rows=1000, rejects_path=rejects)
        stored = dict(
            conn.execute(
                "select execution_id, coalesce(user_id, unmatched_user_id) from tool_usage_logs"
            ).fetchall()
        )
        pairs = conn.execute(
            "select count(*) filter (where user_id is null and unmatched_user_id is not null),"
            " count(*) filter (where user_id is not null and unmatched_user_id is not null)"
            " from tool_usage_logs"
        ).fetchone()
        request = conn.execute("select user_id, unmatched_user_id from mcp_request_logs").fetchone()
        error = conn.execute(
            "select user_id, unmatched_user_id, resolved_by from error_logs"
        ).fetchone()
    # Every row is there, with the id it carried (in user_id or unmatched_user_id).
    assert stored == expect
    assert pairs == (2000, 0)
    assert request == (None, 900_009)
    assert error == (None, 900_010, known[0])
    assert (summary.loaded, summary.rejected) == (4002, 1)
    assert summary.tables["tool_usage_logs"].unmatched_user_ids == 2000
    assert summary.tables["mcp_request_logs"].unmatched_user_ids == 1
    assert summary.tables["error_logs"].unmatched_user_ids == 1
    assert "2002 row(s) with a user_id not in users" in summary.render()
    (reject,) = map(json.loads, rejects.read_text().splitlines())
    assert reject["reason"] == "resolved_by: no user with id 900011 (users)"
    assert reject["line"] == 4003 and "LEAKME" not in reject["raw"]
    assert scalar(bootstrapped_db, "select count(*) from ingest_rejects") == 1


def test_the_cache_is_refreshed_on_a_miss_and_forgets_a_deleted_user(bootstrapped_db):
    (a, b) = _users(bootstrapped_db, 2)
    users = KnownUsers()

    def row(i: int, uid: int) -> dict:
        event = {k: v for k, v in _tool(i, uid).items() if k != "table"}
        return prepare("tool_usage_logs", event)

    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        first = write_batch(conn, {"tool_usage_logs": [row(1, a), row(2, 777_777)]}, users=users)
        assert first.unmatched_user_ids == {"tool_usage_logs": 1}
        # The user appears afterwards: the next miss asks the database again.
        conn.execute(
            "insert into users (id, username, password_hash) overriding system value"
            " values (777777, 'late', 'x')"
        )
        second = write_batch(conn, {"tool_usage_logs": [row(3, 777_777)]}, users=users)
        assert second.unmatched_user_ids == {}
        # A cached user deleted meanwhile: the foreign key refuses the row (a reject with its
        # reason, nothing lost), and the cache starts afresh, so the next one is stored.
        assert users.unknown(conn, {b}) == set()
        conn.execute("delete from users where id = %s", (b,))
        third = write_batch(conn, {"tool_usage_logs": [row(4, b)]}, users=users)
        assert [r.sqlstate for r in third.rejects] == ["23503"]
        fourth = write_batch(conn, {"tool_usage_logs": [row(5, b)]}, users=users)
        assert fourth.unmatched_user_ids == {"tool_usage_logs": 1} and not fourth.rejects
        stored = conn.execute(
            "select execution_id, user_id, unmatched_user_id from tool_usage_logs order by 1"
        ).fetchall()
    assert stored == [
        ("u-1", a, None),
        ("u-2", None, 777_777),
        ("u-3", 777_777, None),
        ("u-5", None, b),
    ]


def test_collector_stores_and_counts_unknown_user_ids(bootstrapped_db, tmp_path):
    (known,) = _users(bootstrapped_db, 1)
    with Collector(bootstrapped_db, spool_dir=tmp_path / "spool", batch_size=10) as collector:
        for i, uid in enumerate([known, 123_456, None, 123_456]):
            record_call(collector, "c", i, user_id=uid)
        assert collector.flush(timeout=30)
        stats = collector.stats
    assert stats["unmatched_user_ids"] == 2 and stats["rejected"] == 0
    assert stats["written"] == 4
    assert (
        scalar(
            bootstrapped_db,
            "select count(*) from tool_usage_logs where unmatched_user_id = 123456"
            " and user_id is null",
        )
        == 2
    )

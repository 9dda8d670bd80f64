"""The collector and the loader connected as a least-privilege login in mcp_ingest (020-022,
031): everything they need is granted, and they never need to read the raw tables back."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.loader import load_text
from mcp_analytics.warehouse import db
from tests.helpers.collector import record_call
from tests.helpers.db import scalar


@pytest.fixture(scope="module")
def ingest_url(module_db, server_url):
    name = f"mcpa_t_{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(18)
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login password {} in role mcp_ingest").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    parts = urlsplit(module_db)
    netloc = f"{quote(name)}:{quote(password, safe='')}@{parts.netloc.rsplit('@', 1)[-1]}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        with psycopg.connect(db.with_database(server_url, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def test_the_ingest_role_cannot_read_raw_tables(ingest_url):
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from tool_usage_logs")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from ingest_rejects")


def test_collector_as_ingest_role(module_db, ingest_url, tmp_path):
    tag = f"role-{uuid.uuid4().hex[:8]}"
    first_ts = "2026-02-03T04:05:06Z"
    with Collector(ingest_url, spool_dir=tmp_path) as c:
        for i in range(2):
            record_call(c, tag, i, execution_id=f"{tag}-{i}", timestamp=first_ts)
        c.record_request(
            method="GET",
            path="/",
            response_status_code=200,
            duration_ms=1,
            success=True,
            request_id=tag,
        )
        c.record_error(level="error", message=tag)
        c.record_metric(metric_name=tag, metric_value=1, aggregation_period="1h")
        c.record_metric(metric_name=tag, metric_value=1, aggregation_period="2h")  # invalid
        assert c.flush(10)
        # A retried event (same key) is a duplicate, also without SELECT on the table.
        record_call(c, tag, 0, execution_id=f"{tag}-0", timestamp=first_ts)
        assert c.flush(10)
        stats = c.stats
    assert stats["last_error"] is None and stats["retries"] == 0 and stats["spooled"] == 0
    assert stats["written"] == 5 and stats["duplicates"] == 1 and stats["rejected"] == 1
    assert c._config_read_at is not None  # settings read through ingest_settings()
    assert (
        scalar(module_db, "select count(*) from tool_usage_logs where bcp_name = %s", (tag,)) == 2
    )
    assert (
        scalar(module_db, "select count(*) from ingest_rejects where raw like %s", (f"%{tag}%",))
        == 1
    )


def test_loader_as_ingest_role(module_db, ingest_url, tmp_path):
    tag = f"load-{uuid.uuid4().hex[:8]}"
    text = "\n".join(
        [
            f'{{"table": "error_logs", "level": "info", "message": "{tag}",'
            ' "timestamp": "2026-01-01T00:00:00Z"}',
            f'{{"table": "error_logs", "level": "info", "message": "{tag} fk", "user_id": 99999,'
            ' "timestamp": "2026-01-01T00:00:00Z"}',
            "not json",
        ]
    )
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        summary = load_text(text, conn=conn, rejects_path=tmp_path / "r.jsonl")
        again = load_text(text, conn=conn, rejects_path=tmp_path / "r2.jsonl")
    # A user id that is not in users is stored, user_id null and the id kept: the ingest
    # login checks ids through ingest_known_user_ids() (it cannot read users).
    assert (summary.loaded, summary.rejected) == (2, 1)
    assert summary.tables["error_logs"].unmatched_user_ids == 1
    assert (again.loaded, again.duplicates, again.rejected) == (0, 2, 1)
    assert (
        scalar(
            module_db,
            "select count(*) from error_logs where message = %s"
            " and user_id is null and unmatched_user_id = 99999",
            (f"{tag} fk",),
        )
        == 1
    )
    assert scalar(module_db, "select count(*) from error_logs where message = %s", (tag,)) == 1

"""The demo workload at small volume, loaded into real databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import bcrypt
import psycopg
import pytest
from psycopg import sql

from mcp_analytics import cli
from mcp_analytics.config import settings
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import WorkloadSpec, default_end
from mcp_analytics.warehouse import db

END = default_end() - timedelta(days=1)
# Four days: the first has no late rows (they come from the last three), so attached months
# are the only way its hours reach the late-data ledger.
SPEC = WorkloadSpec(days=4, tool_calls=5_000, seed=42, end=END, users=300)


def _one(url: str, query: str, params: tuple | dict | None = None):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def _all(url: str, query: str, params: tuple | dict | None = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def demo(module_db):
    """module_db with SPEC loaded, and the load's result."""
    result = load(module_db, SPEC)
    assert result.skipped is None
    return module_db, result


@pytest.fixture
def fresh_db(server_url):
    """An empty database (the demo bootstraps it itself)."""
    name = f"mcpa_test_{uuid.uuid4().hex[:12]}"
    admin = db.with_database(server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield db.with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


FINGERPRINT = """
    select count(*), sum(duration_ms), count(*) filter (where not success),
        md5(string_agg(execution_id || tool_name || duration_ms || "timestamp"::text
                       || coalesce(user_id::text, '-'), ',' order by execution_id))
    from tool_usage_logs
"""


def test_counts_and_volume(demo):
    url, result = demo
    assert result.loaded["tool calls"] == SPEC.tool_calls
    assert _one(url, "select count(*) from tool_usage_logs")[0] == SPEC.tool_calls
    requests = _one(url, "select count(*) from mcp_request_logs")[0]
    assert requests == result.loaded["requests"] > SPEC.tool_calls  # + initialize, tools/list
    assert _one(url, "select count(*) from users where username like 'demo\\_user\\_%'")[0] == 300
    lo, hi = _one(url, 'select min("timestamp"), max("timestamp") from tool_usage_logs')
    assert SPEC.start <= lo and hi < SPEC.end
    # Several BCPs and tools, each with its own latency profile.
    per_tool = _all(
        url,
        """select bcp_name, tool_name,
                  percentile_cont(0.5) within group (order by duration_ms) as median
           from tool_usage_logs where success group by 1, 2""",
    )
    assert len({bcp for bcp, _, _ in per_tool}) >= 5 and len(per_tool) >= 20
    medians = {tool: median for _, tool, median in per_tool}
    assert medians["run_attribution_report"] > 5 * medians["get_contact"]


def test_deterministic_for_a_seed(demo, fresh_db):
    url, result = demo
    again = load(fresh_db, SPEC)
    assert again.loaded == result.loaded
    assert _one(fresh_db, FINGERPRINT) == _one(url, FINGERPRINT)
    for table in ("mcp_request_logs", "error_logs", "sessions", "performance_metrics"):
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        with psycopg.connect(url) as a, psycopg.connect(fresh_db) as b:
            assert a.execute(query).fetchone() == b.execute(query).fetchone(), table


def test_request_logs_match_the_tool_calls(demo):
    url, _ = demo
    orphans = _one(
        url,
        """select count(*) from tool_usage_logs as t
           where not exists (
               select 1 from mcp_request_logs as r
               where r.request_id = t.request_id
                 and r.session_id is not distinct from t.session_id
                 and r.user_id is not distinct from t.user_id
                 and r.success = t.success
                 and r."timestamp" <= t."timestamp"
                 and r.duration_ms >= t.duration_ms)""",
    )[0]
    assert orphans == 0
    # Failed calls answer with an error status; successful ones with 200.
    statuses = dict(
        _all(
            url,
            """select t.success, array_agg(distinct r.response_status_code)
               from tool_usage_logs as t
               join mcp_request_logs as r on r.request_id = t.request_id
               group by t.success""",
        )
    )
    assert statuses[True] == [200]
    assert all(code >= 400 for code in statuses[False])
    # Request headers are stored with the Authorization header already redacted.
    leaked = _one(
        url,
        "select count(*) from mcp_request_logs "
        "where request_headers ->> 'authorization' <> '[REDACTED]'",
    )[0]
    assert leaked == 0


def test_late_rows_are_written_last(demo):
    url, result = demo
    late = result.loaded["late tool calls"]
    assert late > 0
    # The late rows are the last ones written (highest ids), with timestamps hours or days
    # older than rows written before them.
    newest_on_time, oldest_late = _one(
        url,
        """with ranked as (
               select "timestamp", row_number() over (order by id desc) as rank
               from tool_usage_logs)
           select max("timestamp") filter (where rank > %(late)s),
                  min("timestamp") filter (where rank <= %(late)s)
           from ranked""",
        {"late": late},
    )
    assert oldest_late < newest_on_time - timedelta(hours=1)


def test_no_rows_in_default_partitions(demo):
    url, _ = demo
    for table in ("tool_usage_logs_default", "mcp_request_logs_default"):
        assert _one(url, sql.SQL("select count(*) from {}").format(sql.Identifier(table)))[0] == 0
    # The loaded months are ordinary partitions with the parent's indexes.
    missing = _one(
        url,
        """select count(*) from pg_inherits as i
           join pg_class as c on c.oid = i.inhrelid
           where i.inhparent = 'tool_usage_logs'::regclass
             and (select count(*) from pg_index where indrelid = c.oid)
                 <> (select count(*) from pg_index where indrelid = 'tool_usage_logs'::regclass)""",
    )[0]
    assert missing == 0


def test_attached_months_reach_the_late_data_ledger(demo):
    """ATTACH fires no insert trigger: the demo marks the hours dirty for the dbt marts."""
    url, _ = demo
    for table, mart in (
        ("tool_usage_logs", "hourly_tool_usage_summary"),
        ("mcp_request_logs", "hourly_request_summary"),
    ):
        missing = _one(
            url,
            sql.SQL(
                """select count(*) from (
                       select distinct date_trunc('hour', "timestamp", 'UTC') as bucket from {}
                       where "timestamp" < %s
                   ) as hours
                   where not exists (select 1 from mart_dirty_buckets as d
                                     where d.mart = %s and d.bucket = hours.bucket)"""
            ).format(sql.Identifier(table)),
            (SPEC.end - timedelta(hours=72), mart),
        )[0]
        assert missing == 0, table


def test_per_minute_metrics(demo):
    url, _ = demo
    minutes, total = _one(
        url,
        """select count(*), sum(metric_value) from performance_metrics
           where metric_name = 'mcp.tool_calls' and aggregation_period = '1m'""",
    )
    assert minutes == SPEC.days * 24 * 60  # one sample per minute, quiet minutes included
    # The per-minute counts add up to the calls that had arrived when they were computed
    # (everything but the late rows).
    late = _one(url, "select count(*) from tool_usage_logs")[0] - int(total)
    assert 0 < late < SPEC.tool_calls * SPEC.late_share * 2
    names = {n for (n,) in _all(url, "select distinct metric_name from performance_metrics")}
    assert {"mcp.tool_error_rate", "mcp.tool_latency_p95", "process.cpu_usage"} <= names


def test_error_logs(demo):
    url, _ = demo
    categories = {c for (c,) in _all(url, "select distinct category from error_logs")}
    assert {"authentication", "database", "external_api", "validation"} <= categories
    levels = {lvl for (lvl,) in _all(url, "select distinct level::text from error_logs")}
    assert {"warn", "error"} <= levels
    with_stack = _one(
        url,
        "select count(*) from error_logs "
        "where stack_trace like 'Traceback (most recent call last):%'",
    )[0]
    assert with_stack > 0
    # Tool errors point at their call.
    dangling = _one(
        url,
        """select count(*) from error_logs as e where e.execution_id is not null
           and not exists (select 1 from tool_usage_logs as t
                           where t.execution_id = e.execution_id and not t.success)""",
    )[0]
    assert dangling == 0
    assert _one(url, "select count(*) from error_logs where severity not between 1 and 5")[0] == 0


def test_demo_users_cannot_log_in(demo):
    url, _ = demo
    hashes = _all(url, "select password_hash from users where username like 'demo\\_%' limit 5")
    for (stored,) in hashes:
        assert stored.startswith("$2b$12$") and len(stored) == 60
        assert not bcrypt.checkpw(b"", stored.encode())
        assert not bcrypt.checkpw(b"demo", stored.encode())


def test_rerun_skips_and_append_merges(demo):
    url, _ = demo
    before = _one(url, "select count(*) from tool_usage_logs")[0]
    again = load(url, SPEC)
    assert again.skipped and "already loaded" in again.skipped
    other = WorkloadSpec(days=3, tool_calls=1_000, seed=7, end=END)
    refused = load(url, other)
    assert refused.skipped and "--append" in refused.skipped
    assert _one(url, "select count(*) from tool_usage_logs")[0] == before
    # --append into months that already hold rows goes through the merge path.
    appended = load(url, other, append=True)
    assert appended.skipped is None and appended.merged_months
    assert _one(url, "select count(*) from tool_usage_logs")[0] == before + 1_000
    dupes = _one(
        url,
        'select count(*) - count(distinct (execution_id, "timestamp")) from tool_usage_logs',
    )[0]
    assert dupes == 0


def test_cli(fresh_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    settings.cache_clear()
    try:
        end = END.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        argv = ["demo", "--tool-calls", "1500", "--days", "2", "--seed", "3", "--end", end]
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "1,500" in out and "tool_usage_logs" in out
        assert cli.main(argv) == 0  # a rerun is skipped, not an error
        assert "skipped" in capsys.readouterr().out
        assert cli.main(["demo", "--tool-calls", "0"]) == 2
    finally:
        settings.cache_clear()
    assert _one(fresh_db, "select count(*) from tool_usage_logs")[0] == 1_500

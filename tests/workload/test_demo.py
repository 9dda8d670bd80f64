"""The demo workload at small volume, loaded into real databases."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import psycopg
import pytest
from psycopg import sql

from mcp_analytics import cli
from mcp_analytics.config import settings
from mcp_analytics.demo.loader import load
from mcp_analytics.demo.workload import (
    WorkloadSpec,
    advertised_inventory,
    default_end,
    inventory_snapshots,
)
from tests.helpers.db import one_row, rows, scalar

END = default_end() - timedelta(days=1)
# Four days: the first has no late rows (they come from the last three), so attached months
# are the only way its hours reach the late-data ledger.
SPEC = WorkloadSpec(days=4, tool_calls=5_000, seed=42, end=END, users=300)


@pytest.fixture(scope="module")
def demo(module_db):
    """module_db with SPEC loaded, and the load's result."""
    result = load(module_db, SPEC)
    assert result.skipped is None
    return module_db, result


FINGERPRINT = """
    select count(*), sum(duration_ms), count(*) filter (where not success),
        md5(string_agg(execution_id || tool_name || duration_ms || "timestamp"::text
                       || coalesce(user_id::text, '-'), ',' order by execution_id))
    from tool_usage_logs
"""


def test_counts_and_volume(demo):
    url, result = demo
    assert result.loaded["tool calls"] == SPEC.tool_calls
    assert scalar(url, "select count(*) from tool_usage_logs") == SPEC.tool_calls
    requests = scalar(url, "select count(*) from mcp_request_logs")
    assert requests == result.loaded["requests"] > SPEC.tool_calls  # + initialize, tools/list
    assert scalar(url, "select count(*) from users where username like 'demo\\_user\\_%'") == 300
    lo, hi = one_row(url, 'select min("timestamp"), max("timestamp") from tool_usage_logs')
    assert SPEC.start <= lo and hi < SPEC.end
    # Several BCPs and tools, each with its own latency profile.
    per_tool = rows(
        url,
        """select bcp_name, tool_name,
                  percentile_cont(0.5) within group (order by duration_ms) as median
           from tool_usage_logs where success group by 1, 2""",
    )
    assert len({bcp for bcp, _, _ in per_tool}) >= 5 and len(per_tool) >= 20
    medians = {tool: median for _, tool, median in per_tool}
    assert medians["run_attribution_report"] > 5 * medians["get_contact"]


def test_deterministic_for_a_seed(demo, empty_db):
    url, result = demo
    again = load(empty_db, SPEC)
    assert again.loaded == result.loaded
    assert one_row(empty_db, FINGERPRINT) == one_row(url, FINGERPRINT)
    for table in ("mcp_request_logs", "error_logs", "sessions", "performance_metrics"):
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        with psycopg.connect(url) as a, psycopg.connect(empty_db) as b:
            assert a.execute(query).fetchone() == b.execute(query).fetchone(), table


def test_request_logs_match_the_tool_calls(demo):
    url, _ = demo
    orphans = one_row(
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
        rows(
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
    leaked = one_row(
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
    newest_on_time, oldest_late = one_row(
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
        assert scalar(url, sql.SQL("select count(*) from {}").format(sql.Identifier(table))) == 0
    # The loaded months are ordinary partitions with the parent's indexes.
    missing = one_row(
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
        missing = one_row(
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
    minutes, total = one_row(
        url,
        """select count(*), sum(metric_value) from performance_metrics
           where metric_name = 'mcp.tool_calls' and aggregation_period = '1m'""",
    )
    assert minutes == SPEC.days * 24 * 60  # one sample per minute, quiet minutes included
    # The per-minute counts add up to the calls that had arrived when they were computed
    # (everything but the late rows).
    late = scalar(url, "select count(*) from tool_usage_logs") - int(total)
    assert 0 < late < SPEC.tool_calls * SPEC.late_share * 2
    names = {n for (n,) in rows(url, "select distinct metric_name from performance_metrics")}
    assert {"mcp.tool_error_rate", "mcp.tool_latency_p95", "process.cpu_usage"} <= names


def test_error_logs(demo):
    url, _ = demo
    categories = {c for (c,) in rows(url, "select distinct category from error_logs")}
    assert {"authentication", "database", "external_api", "validation"} <= categories
    levels = {lvl for (lvl,) in rows(url, "select distinct level::text from error_logs")}
    assert {"warn", "error"} <= levels
    with_stack = one_row(
        url,
        "select count(*) from error_logs "
        "where stack_trace like 'Traceback (most recent call last):%'",
    )[0]
    assert with_stack > 0
    # Tool errors point at their call.
    dangling = one_row(
        url,
        """select count(*) from error_logs as e where e.execution_id is not null
           and not exists (select 1 from tool_usage_logs as t
                           where t.execution_id = e.execution_id and not t.success)""",
    )[0]
    assert dangling == 0
    assert scalar(url, "select count(*) from error_logs where severity not between 1 and 5") == 0


def test_stored_inventory_is_what_each_release_advertised(demo):
    url, _ = demo
    taken = inventory_snapshots(SPEC)
    expected = [advertised_inventory(b, v) for b, v, _ in taken]
    stored = rows(
        url,
        """select bcp_name, server_version, protocol_version, taken_at, tools
           from mcp_inventory_snapshots where source = 'schedule' order by taken_at, id""",
    )
    assert [
        (i.bcp_name, i.server_version, i.protocol_version, len(i.definitions)) for i in expected
    ] == [(bcp, version, protocol, tools) for bcp, version, protocol, _, tools in stored]
    assert [t for _, _, t in taken] == [taken_at for _, _, _, taken_at, _ in stored]
    fingerprints = rows(
        url, "select distinct bcp_name, name, fingerprint from mcp_definition_versions"
    )
    assert set(fingerprints) == {
        (i.bcp_name, d.name, d.fingerprint) for i in expected for d in i.definitions
    }


def test_demo_users_cannot_log_in(demo):
    url, _ = demo
    hashes = rows(url, "select password_hash from users where username like 'demo\\_%' limit 5")
    for (stored,) in hashes:
        assert stored.startswith("$2b$12$") and len(stored) == 60
        assert not bcrypt.checkpw(b"", stored.encode())
        assert not bcrypt.checkpw(b"demo", stored.encode())


def test_rerun_skips_and_append_merges(demo):
    url, _ = demo
    before = scalar(url, "select count(*) from tool_usage_logs")
    again = load(url, SPEC)
    assert again.skipped and "already loaded" in again.skipped
    other = WorkloadSpec(days=3, tool_calls=1_000, seed=7, end=END)
    refused = load(url, other)
    assert refused.skipped and "--append" in refused.skipped
    assert scalar(url, "select count(*) from tool_usage_logs") == before
    # --append into months that already hold rows goes through the merge path.
    appended = load(url, other, append=True)
    assert appended.skipped is None and appended.merged_months
    assert scalar(url, "select count(*) from tool_usage_logs") == before + 1_000
    dupes = one_row(
        url,
        'select count(*) - count(distinct (execution_id, "timestamp")) from tool_usage_logs',
    )[0]
    assert dupes == 0


def test_cli(empty_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db)
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
    assert scalar(empty_db, "select count(*) from tool_usage_logs") == 1_500

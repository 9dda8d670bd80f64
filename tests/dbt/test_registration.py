"""A mart added to the dbt project registers itself: no bootstrap file, and from its first run
the late-data triggers mark its buckets, so its incremental runs stay exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from .project_copy import copy_project, output, run_in

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

NEW_MART = """
{{
    config(
        incremental_strategy='dirty_buckets',
        incremental_predicates=[
            "dbt_internal_dest.hour in (select rebuilt.bucket from pg_temp.mart_rebuild as rebuilt)"
        ],
        meta={'ledger_sources': ['tool_usage_logs']},
        pre_hook="{{ mart_claim_dirty('tool_usage_logs', grain='hour') }}",
        post_hook="{{ mart_release_dirty('hour', retention_days=30) }}",
    )
}}

select
    date_trunc('hour', calls.called_at, 'UTC') as hour,
    count(*) filter (where not calls.is_success) as failed_calls
from {{ ref('stg_mcp__tool_usage_logs') }} as calls
{% if is_incremental() %}
    inner join pg_temp.mart_rebuild as rebuild_hours
        on
            calls.called_at >= rebuild_hours.bucket
            and calls.called_at < rebuild_hours.bucket + interval '1 hour'
{% endif %}
where calls.called_at is not null
group by 1
"""

NEW_MART_YML = """
version: 2
models:
  - name: hourly_failed_calls
    description: Failed tool calls per UTC hour (a mart added by a test).
    columns:
      - name: hour
        data_type: timestamptz
      - name: failed_calls
        data_type: bigint
"""

RECOMPUTED = """
    select date_trunc('hour', "timestamp", 'UTC') as hour,
           count(*) filter (where not success) as failed_calls
    from tool_usage_logs group by 1
"""


def _calls(conn: psycopg.Connection, tag: str, hour: datetime, n: int) -> None:
    conn.execute(
        "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
        ' duration_ms, success, "timestamp")'
        " select %s || g, 'b', 't', 'o', 1, g %% 3 = 0, %s + g * interval '1 second'"
        " from generate_series(1, %s) as g",
        (tag, hour, n),
    )


def _differences(conn: psycopg.Connection) -> int:
    mart = "select hour, failed_calls from analytics.hourly_failed_calls"
    return conn.execute(
        f"select count(*) from (({mart} except all {RECOMPUTED})"
        f" union all ({RECOMPUTED} except all {mart})) as d"
    ).fetchone()[0]


def with_new_mart(tmp_path: Path, mart_sql: str) -> Path:
    """A copy of the dbt project with the mart hourly_failed_calls (`mart_sql`, and its yml)."""
    project = copy_project(tmp_path / "dbt_project")
    (project / "models" / "marts" / "hourly_failed_calls.sql").write_text(mart_sql)
    (project / "models" / "marts" / "_hourly_failed_calls.yml").write_text(NEW_MART_YML)
    return project


def test_a_new_mart_registers_itself_and_follows_late_data(module_db: str, tmp_path: Path) -> None:
    project = with_new_mart(tmp_path, NEW_MART)
    with psycopg.connect(module_db, autocommit=True) as conn:
        _calls(conn, "before-", NOW - timedelta(hours=3), 30)
        assert conn.execute(
            "select count(*) from mart_sources where mart = 'hourly_failed_calls'"
        ).fetchone() == (0,)

    # commands that build nothing register nothing
    fresh = run_in(project, module_db, "source", "freshness")  # stale sources: exit status 1
    assert "OK hook: mcp_analytics.on-run-start.0" in fresh.stdout, output(fresh)
    with psycopg.connect(module_db, autocommit=True) as conn:
        assert conn.execute(
            "select count(*) from mart_sources where mart = 'hourly_failed_calls'"
        ).fetchone() == (0,)

    first = run_in(project, module_db, "run", "--select", "+hourly_failed_calls")
    assert first.returncode == 0, output(first)
    assert "ledger: hourly_failed_calls now follows tool_usage_logs" in first.stdout
    with psycopg.connect(module_db, autocommit=True) as conn:
        assert conn.execute(
            "select source_table from mart_sources where mart = 'hourly_failed_calls'"
        ).fetchall() == [("tool_usage_logs",)]
        assert _differences(conn) == 0
        # a new hour and rows two days late: the triggers mark both for the new mart
        _calls(conn, "new-", NOW, 20)
        _calls(conn, "late-", NOW - timedelta(days=2), 12)
        marked = {
            bucket
            for (bucket,) in conn.execute(
                "select bucket from mart_dirty_buckets where mart = 'hourly_failed_calls'"
            )
        }
        assert {NOW, NOW - timedelta(days=2)} <= marked
        assert _differences(conn) > 0

    second = run_in(project, module_db, "run", "--select", "+hourly_failed_calls")
    assert second.returncode == 0, output(second)
    assert "now follows" not in second.stdout  # registered once
    with psycopg.connect(module_db, autocommit=True) as conn:
        assert _differences(conn) == 0
        assert conn.execute(
            "select count(*) from mart_dirty_buckets where mart = 'hourly_failed_calls'"
        ).fetchone() == (0,)


def test_a_mart_without_ledger_sources_is_refused(module_db: str, tmp_path: Path) -> None:
    project = with_new_mart(
        tmp_path, NEW_MART.replace("        meta={'ledger_sources': ['tool_usage_logs']},\n", "")
    )
    proc = run_in(project, module_db, "run", "--select", "+hourly_failed_calls")
    assert proc.returncode != 0
    assert "hourly_failed_calls declares no meta.ledger_sources" in proc.stdout, output(proc)


def test_a_mart_following_a_table_without_triggers_is_refused(
    module_db: str, tmp_path: Path
) -> None:
    project = with_new_mart(
        tmp_path,
        NEW_MART.replace("'ledger_sources': ['tool_usage_logs']", "'ledger_sources': ['users']"),
    )
    proc = run_in(project, module_db, "run", "--select", "+hourly_failed_calls")
    assert proc.returncode != 0
    assert "hourly_failed_calls follows users, which is neither a raw table" in proc.stdout, output(
        proc
    )


@pytest.mark.parametrize(("opted_out", "expected"), [(False, "off"), (True, "on")])
def test_a_mart_runs_without_nested_loops_unless_its_meta_keeps_them(
    module_db: str, tmp_path: Path, opted_out: bool, expected: str
) -> None:
    """mart_claim_dirty turns nested loops off for the model's transaction; a model whose
    config says meta.needs_nested_loops keeps the server's setting (docs/dbt.md)."""
    mart = NEW_MART.replace(
        "count(*) filter (where not calls.is_success) as failed_calls\n",
        "count(*) filter (where not calls.is_success) as failed_calls,\n"
        "    current_setting('enable_nestloop') as nestloop\n",
    )
    if opted_out:
        mart = mart.replace(
            "meta={'ledger_sources': ['tool_usage_logs']}",
            "meta={'ledger_sources': ['tool_usage_logs'], 'needs_nested_loops': true}",
        )
    project = with_new_mart(tmp_path, mart)
    (project / "models" / "marts" / "_hourly_failed_calls.yml").write_text(
        NEW_MART_YML + "      - name: nestloop\n        data_type: text\n"
    )
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("drop table if exists analytics.hourly_failed_calls")
        _calls(conn, f"nestloop-{opted_out}-", NOW - timedelta(hours=5), 6)
    proc = run_in(project, module_db, "run", "--select", "+hourly_failed_calls")
    assert proc.returncode == 0, output(proc)
    with psycopg.connect(module_db, autocommit=True) as conn:
        seen = conn.execute("select distinct nestloop from analytics.hourly_failed_calls")
        assert seen.fetchall() == [(expected,)]
        conn.execute("drop table analytics.hourly_failed_calls")

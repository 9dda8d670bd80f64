"""A wide late-data range: `mart_mark_dirty` over weeks of hours, then an incremental run.

The run must be exact (every mart equal to a recomputation from the raw rows) and planned as
the many rows it is: the raw rows of the range are estimated from the column's statistics
(not guessed at 0.5 %), and the buckets to rebuild are never joined by a nested loop (which,
over months of hours, compares every row with every bucket: 100x a full rebuild). The plans
are the ones the real run made: a copy of the project adds a post-hook that EXPLAINs each
mart's own compiled query in its own transaction, after the real pre-hooks. The cost itself
is measured by bench/bench_dbt_wide_late.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.bench_dbt_wide_late import MARTS, RAW_TABLES
from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.db import scalar

from .marts_reference import all_mart_diffs
from .project_copy import copy_project, output, run_in

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = 50
DIRTY_HOURS = 1100

RECORD_PLAN = """
{% macro mart_test_record_plan() %}
    {%- if is_incremental() -%}
        insert into public.mart_test_plans (mart, plan)
        select
            '{{ this.identifier }}',
            public.mart_test_explain($model_sql${{ model.compiled_code }}$model_sql$)
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, plus a post-hook on the marts that records each incremental query's plan."""
    copy = copy_project(tmp_path_factory.mktemp("wide") / "project")
    (copy / "macros" / "mart_test_record_plan.sql").write_text(RECORD_PLAN)
    config = copy / "dbt_project.yml"
    text = config.read_text()
    anchor = "    marts:\n      +materialized: incremental\n"
    assert anchor in text
    config.write_text(
        text.replace(anchor, anchor + '      +post-hook: "{{ mart_test_record_plan() }}"\n')
    )
    return copy


def _dbt(project: Path, url: str, *args: str) -> None:
    proc = run_in(project, url, *args)
    assert proc.returncode == 0, output(proc)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def _relations(plan: dict[str, Any]) -> set[str]:
    return {n["Relation Name"] for n in _nodes(plan) if "Relation Name" in n}


def test_wide_late_range_is_exact_and_planned_as_many_rows(module_db: str, project: Path) -> None:
    url = module_db
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("tool_usage_logs", "mcp_request_logs"):
            conn.execute("select create_monthly_partitions(%s, 1, 3)", (table,))
        load_synthetic(
            conn,
            start=NOW - timedelta(days=DAYS),
            hours=DAYS * 24,
            calls=6000,
            requests=4000,
            errors=600,
            metrics=1200,
            seed=0.3,
        )
        conn.execute("analyze")
        conn.execute("create table public.mart_test_plans (mart text, plan json)")
        conn.execute(
            """
            create function public.mart_test_explain(query text) returns json
            language plpgsql as $$
            declare
                plan json;
            begin
                execute 'explain (format json) ' || query into plan;
                return plan;
            end
            $$
            """
        )
    _dbt(project, url, "run", "--select", "staging")
    _dbt(project, url, "run", "--select", *MARTS)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
        # A side load the triggers never saw (rows weeks late, written with the triggers off),
        # then what docs/dbt.md says to do after one: mark the range.
        conn.execute("alter table tool_usage_logs disable trigger mart_dirty_on_insert")
        load_synthetic(
            conn,
            start=NOW - timedelta(hours=DIRTY_HOURS - 5),
            hours=DIRTY_HOURS - 10,
            calls=3000,
            requests=0,
            errors=0,
            metrics=0,
            seed=0.7,
            tag="side",
        )
        conn.execute("alter table tool_usage_logs enable trigger mart_dirty_on_insert")
        for table in RAW_TABLES:
            conn.execute(
                "select mart_mark_dirty(%s, now() - make_interval(hours => %s), now())",
                (table, DIRTY_HOURS),
            )
        in_range = scalar(
            conn,
            "select count(*) from tool_usage_logs"
            " where \"timestamp\" >= date_trunc('hour', now() - make_interval(hours => %s), 'UTC')",
            (DIRTY_HOURS,),
        )
    _dbt(project, url, "run", "--select", *MARTS)

    with psycopg.connect(url, autocommit=True) as conn:
        diffs = all_mart_diffs(conn)
        plans = dict(conn.execute("select mart, plan from public.mart_test_plans").fetchall())
        left = scalar(
            conn,
            "select count(*) from mart_dirty_buckets where mart = any(%s)",
            (list(MARTS),),
        )
    assert all(d == (0, 0) for d in diffs.values()), diffs
    assert left == 0
    assert set(plans) == set(MARTS)
    for mart, plan in plans.items():
        root = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
        for node in _nodes(root):
            if node["Node Type"] == "Nested Loop":
                # a lateral function scan (jsonb_each_text) is a nested loop by nature; one
                # over the buckets to rebuild is what made wide ranges 100x slower
                assert "mart_rebuild" not in _relations(node), (mart, node)
        if mart == "daily_tool_usage_summary":
            # its histograms are numbers that add up: no function scan, so no loop at all
            # (nested loops are off on every PostgreSQL version, 15 included)
            assert not [n for n in _nodes(root) if n["Node Type"] == "Nested Loop"], mart
        buckets = [n for n in _nodes(root) if n.get("Relation Name") == "mart_rebuild"]
        assert buckets, f"{mart}: the buckets to rebuild are not read"
    # The raw rows of the range, estimated from the statistics: within a factor of two of
    # the real count (a subquery for the bounds made it 0.5 % of the table whatever the range).
    raw_scans = [
        n
        for n in _nodes(plans["hourly_tool_usage_summary"][0]["Plan"])
        if n.get("Relation Name", "").startswith("tool_usage_logs")
    ]
    estimated = sum(n["Plan Rows"] for n in raw_scans)
    assert in_range / 2 <= estimated <= in_range * 2, (estimated, in_range)

"""Packed histograms and the semantic conventions' duration buckets (bootstrap_sql/105).

The functions against their jsonb counterparts and against exact `percentile_cont`; the tool
marts' new columns against a recomputation from the raw rows, after a first build and after
late rows and an incremental run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.demo.synthetic import load_synthetic
from tests.helpers.dbt_project import DbtWarehouse

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
CLASSES = ("ok", "tool_error", "caller_error", "server_error", "transport_error")
BOUNDS_MS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000)


def test_pack_and_unpack_round_trip_every_bucket_range(bootstrapped_db: str) -> None:
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        pairs = conn.execute(
            "select * from mart_hist_unpack(mart_hist_pack("
            " array[43, 40, 43, -2, 1663, -1665, 7], array[1, 3, 2, 5, 7, 9, 0]::bigint[]))"
        ).fetchall()
        # repeated indexes add up, zero counts vanish, lowest first, both extremes kept
        assert pairs == [(-1665, 9), (-2, 5), (40, 3), (43, 3), (1663, 7)]
        # the extremes of integer durations are buckets -1665 and 1663
        assert conn.execute(
            "select mart_hist_bucket(-2147483648), mart_hist_bucket(2147483647)"
        ).fetchone() == (-1665, 1663)
        empty = conn.execute(
            "select mart_hist_pack('{}', '{}'), mart_hist_to_jsonb(0), mart_hist_count(0),"
            " mart_hist_quantile(0, 0.5), (select count(*) from mart_hist_unpack(0))"
        ).fetchone()
        assert empty == (0, {}, None, None, 0)
        # a field holds up to 10^16 - 1
        big = conn.execute(
            "select bucket_count from mart_hist_unpack(mart_hist_pack(array[5, 6],"
            " array[9999999999999999, 1]::bigint[])) order by bucket"
        ).fetchall()
        assert big == [(9999999999999999,), (1,)]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="between 0 and 1"):
            conn.execute("select mart_hist_quantile(mart_hist_pack(array[1], array[1]), 1.5)")


def test_packed_functions_agree_with_the_jsonb_ones(bootstrapped_db: str) -> None:
    """On 300 random histograms (values 0 to e^12 ms, a few negative): conversions both ways,
    merging (mart_hist_merge on either form, sum), count and quantiles are identical."""
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute("select setseed(0.25)")
        conn.execute(
            """
            create temporary table hists as
            select g, jsonb_object_agg(b, n) as h
            from (
                select g, mart_hist_bucket(
                    case when random() < 0.02 then -(exp(random() * 6))::bigint
                    else (exp(random() * 12))::bigint end
                ) as b, count(*) as n
                from generate_series(1, 300) as g, generate_series(1, 60) as i
                group by 1, 2
            ) as buckets
            group by g
            """
        )
        conn.execute(
            "alter table hists add column p numeric; update hists set p = mart_hist_from_jsonb(h)"
        )
        row = conn.execute(
            """
            select
                count(*) filter (where mart_hist_to_jsonb(p) <> h),
                count(*) filter (where mart_hist_count(p) <> mart_hist_count(h)),
                count(*) filter (where mart_hist_quantiles(p, array[0, 0.5, 0.95, 0.99, 1])
                    is distinct from mart_hist_quantiles(h, array[0, 0.5, 0.95, 0.99, 1])),
                count(*) filter (where mart_hist_quantile(p, 0.95)
                    is distinct from mart_hist_quantile(h, 0.95))
            from hists
            """
        ).fetchone()
        assert row == (0, 0, 0, 0)
        merged = conn.execute(
            """
            select
                mart_hist_to_jsonb(sum(p)) = mart_hist_merge(h),
                sum(p) = mart_hist_merge(p),
                mart_hist_merge(h) = (
                    select jsonb_object_agg(k, n) from (
                        select e.key as k, sum(e.value::bigint) as n
                        from hists, jsonb_each_text(hists.h) as e group by e.key
                    ) as t
                ),
                mart_hist_quantile(sum(p), 0.95) = mart_hist_quantile(mart_hist_merge(h), 0.95)
            from hists
            """
        ).fetchone()
        assert merged == (True, True, True, True)


def test_semconv_bucket_edges_are_exact(bootstrapped_db: str) -> None:
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        bounds = conn.execute("select mart_semconv_duration_bounds()").fetchone()[0]
        assert bounds == [b / 1000 for b in BOUNDS_MS]
        for k, bound in enumerate(BOUNDS_MS, start=1):
            got = conn.execute(
                "select mart_semconv_duration_bucket(%s), mart_semconv_duration_bucket(%s)",
                (bound, bound + 1),
            ).fetchone()
            # (previous bound, bound]: the bound itself is in bucket k, one ms more in k + 1
            assert got == (k, k + 1), (bound, got)
        assert conn.execute(
            "select mart_semconv_duration_bucket(-5), mart_semconv_duration_bucket(0),"
            " mart_semconv_duration_bucket(2147483647)"
        ).fetchone() == (1, 1, 15)


def _build(url: str, target: Path) -> None:
    DbtWarehouse(url, target).dbt("run", "--select", "+daily_tool_usage_summary")


def _semconv_differences(conn: psycopg.Connection) -> int:
    """Rows of the hourly mart whose semantic-conventions buckets or sums differ from a
    recomputation from the raw rows (in either direction), plus daily rows that are not the
    sum of their hours."""
    cells = ", ".join(
        f"count(*) filter (where coalesce(error_class, mcp_error_class(success, error_code))"
        f" = '{c}' and duration_ms {'>' if k == 15 else '<='}"
        f" {BOUNDS_MS[-1] if k == 15 else BOUNDS_MS[k - 1]}"
        + (f" and duration_ms > {BOUNDS_MS[k - 2]}" if 1 < k < 15 else "")
        + ")"
        for c in CLASSES
        for k in range(1, 16)
    )
    sums = ", ".join(
        f"coalesce(sum(duration_ms) filter (where coalesce(error_class,"
        f" mcp_error_class(success, error_code)) = '{c}'), 0)"
        for c in CLASSES
    )
    hourly = conn.execute(
        f"""
        with raw as (
            select date_trunc('hour', "timestamp", 'UTC') as hour, bcp_name, tool_name,
                operation, array[{cells}]::bigint[] as cells, array[{sums}]::bigint[] as sums
            from tool_usage_logs
            where "timestamp" is not null
            group by 1, 2, 3, 4
        ),
        mart as (
            select hour, bcp_name, tool_name, operation,
                array(select unnest(operation_duration_buckets)) as cells,
                operation_duration_sum_ms as sums
            from analytics.hourly_tool_usage_summary
        )
        select count(*) from (
            (select * from raw except all select * from mart)
            union all
            (select * from mart except all select * from raw)
        ) as d
        """
    ).fetchone()[0]
    daily = conn.execute(
        """
        with cells as (
            select date_trunc('day', h.hour, 'UTC') as day, h.bcp_name, h.tool_name,
                h.operation, c.i, sum(c.n) as n
            from analytics.hourly_tool_usage_summary as h
            cross join unnest(h.operation_duration_buckets) with ordinality as c (n, i)
            group by 1, 2, 3, 4, 5
        ),
        hours as (
            select date_trunc('day', hour, 'UTC') as day, bcp_name, tool_name, operation,
                sum(duration_histogram_packed) as packed
            from analytics.hourly_tool_usage_summary
            group by 1, 2, 3, 4
        ),
        hour_cells as (
            select day, bcp_name, tool_name, operation, array_agg(n order by i)::bigint[] as cells
            from cells group by 1, 2, 3, 4
        )
        select count(*)
        from analytics.daily_tool_usage_summary as d
        full join hours using (day, bcp_name, tool_name, operation)
        full join hour_cells using (day, bcp_name, tool_name, operation)
        where d.duration_histogram_packed is distinct from hours.packed
            or d.duration_histogram is distinct from mart_hist_to_jsonb(hours.packed)
            or array(select unnest(d.operation_duration_buckets)) is distinct from hour_cells.cells
        """
    ).fetchone()[0]
    return hourly + daily


def test_tool_marts_new_columns_equal_a_recomputation(module_db: str, tmp_path: Path) -> None:
    url = module_db
    with psycopg.connect(url, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(days=3), hours=72, calls=4000, seed=0.11)
    _build(url, tmp_path / "first")
    with psycopg.connect(url, autocommit=True) as conn:
        assert _semconv_differences(conn) == 0
        packed_vs_jsonb = conn.execute(
            "select count(*) from analytics.hourly_tool_usage_summary"
            " where duration_histogram_packed <> mart_hist_from_jsonb(duration_histogram)"
        ).fetchone()[0]
        assert packed_vs_jsonb == 0
        # late rows (two days back) and a new hour, then an incremental run
        load_synthetic(
            conn, start=NOW - timedelta(days=2), hours=3, calls=500, seed=0.12, tag="late"
        )
        load_synthetic(conn, start=NOW, hours=1, calls=200, seed=0.13, tag="new")
    _build(url, tmp_path / "second")
    with psycopg.connect(url, autocommit=True) as conn:
        assert _semconv_differences(conn) == 0
        # the documented one-liner on the daily rows, within the bound of the exact p95
        rows = conn.execute(
            """
            with estimate as (
                select tool_name, mart_hist_quantile(sum(duration_histogram_packed), 0.95) as p95
                from analytics.daily_tool_usage_summary group by tool_name
            ),
            exact as (
                select tool_name, percentile_cont(0.95) within group (order by duration_ms) as p95
                from tool_usage_logs group by tool_name
            )
            select exact.tool_name, exact.p95, estimate.p95
            from exact left join estimate using (tool_name)
            """
        ).fetchall()
    assert rows
    for tool, exact, estimate in rows:
        assert estimate is not None and abs(estimate - exact) <= exact / 128 + 1e-9, (
            tool,
            exact,
            estimate,
        )

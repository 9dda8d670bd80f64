"""The late-data ledger's triggers and the histogram functions, in SQL (no dbt run needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

HOUR = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def _marks(conn: psycopg.Connection, mart: str) -> list[datetime]:
    rows = conn.execute(
        "select bucket from mart_dirty_buckets where mart = %s order by bucket", (mart,)
    ).fetchall()
    return [r[0] for r in rows]


def _insert_calls(conn: psycopg.Connection, *times: datetime) -> None:
    for i, ts in enumerate(times):
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, "
            "duration_ms, success, \"timestamp\") values (%s, 'b', 't', 'o', 1, true, %s)",
            (f"exec-{ts.isoformat()}-{i}", ts),
        )


def test_triggers_mark_touched_hours_once_per_statement(module_db: str) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
        conn.execute(
            "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation, "
            'duration_ms, success, "timestamp") '
            "select 'bulk-' || g, 'b', 't', 'o', g, true, %s + g * interval '1 minute' "
            "from generate_series(0, 119) as g",
            (HOUR,),
        )
        # one statement over two hours: one entry per hour (and per mart reading the table)
        assert _marks(conn, "hourly_tool_usage_summary") == [HOUR, HOUR + timedelta(hours=1)]
        assert _marks(conn, "hourly_request_summary") == []
        conn.execute("delete from mart_dirty_buckets")

        # an update marks the old and the new hour of a moved row
        conn.execute(
            'update tool_usage_logs set "timestamp" = "timestamp" + interval \'1 day\' '
            "where execution_id = 'bulk-0'"
        )
        assert _marks(conn, "hourly_tool_usage_summary") == [HOUR, HOUR + timedelta(days=1)]
        conn.execute("delete from mart_dirty_buckets")

        conn.execute("delete from tool_usage_logs where execution_id = 'bulk-61'")
        assert _marks(conn, "hourly_tool_usage_summary") == [HOUR + timedelta(hours=1)]
        conn.execute("delete from mart_dirty_buckets")

        # error_logs updates (resolved = true) mark the error's hour for the daily mart
        conn.execute(
            "insert into error_logs (level, message, \"timestamp\") values ('error', 'x', %s)",
            (HOUR + timedelta(minutes=30),),
        )
        conn.execute("delete from mart_dirty_buckets")
        conn.execute("update error_logs set resolved = true")
        assert _marks(conn, "daily_error_summary") == [HOUR]
        conn.execute("delete from mart_dirty_buckets")

        # the flag alone (any role can set it) changes nothing since bootstrap_sql/063
        with conn.transaction():
            conn.execute("set local mcp_analytics.retention = 'on'")
            conn.execute("delete from tool_usage_logs where execution_id = 'bulk-1'")
        assert _marks(conn, "hourly_tool_usage_summary") == [HOUR]
        conn.execute("delete from mart_dirty_buckets")

        # retention's deletes mark nothing: the flag and the token apply_retention() writes
        with conn.transaction():
            conn.execute("set local mcp_analytics.retention = 'on'")
            conn.execute(
                "insert into retention_bypass values (pg_backend_pid(), pg_current_xact_id())"
            )
            conn.execute("delete from tool_usage_logs")
        assert _marks(conn, "hourly_tool_usage_summary") == []
        # and the flag does not outlive the transaction
        _insert_calls(conn, HOUR)
        assert _marks(conn, "hourly_tool_usage_summary") == [HOUR]


def test_mart_mark_dirty_for_loads_without_triggers(module_db: str) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        conn.execute("delete from mart_dirty_buckets")
        marked = conn.execute(
            "select mart_mark_dirty('mcp_request_logs', %s, %s)",
            (HOUR + timedelta(minutes=30), HOUR + timedelta(hours=3)),
        ).fetchone()[0]
        assert marked == 3
        assert _marks(conn, "hourly_request_summary") == [
            HOUR + timedelta(hours=h) for h in range(3)
        ]
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select mart_mark_dirty('users', now(), now() + interval '1 hour')")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select mart_mark_dirty('error_logs', now(), now())")


def test_histogram_buckets_are_ordered_and_within_one_128th(module_db: str) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        worst, ordered, exact_small = conn.execute(
            """
            with v as (
                select g::bigint as v from generate_series(-300000, 3000000) as g
                union all
                select (2::bigint << e) + d from generate_series(6, 30) as e,
                    generate_series(-1, 1) as d
            )
            select
                max(abs(mart_hist_bucket_value(mart_hist_bucket(v)) - v) / greatest(abs(v), 1)),
                bool_and(mart_hist_bucket(v) <= mart_hist_bucket(v + 1)) filter (where v >= 0),
                bool_and(mart_hist_bucket_value(mart_hist_bucket(v)) = v)
                    filter (where abs(v) < 128)
            from v
            """
        ).fetchone()
        assert worst <= 1 / 128
        assert ordered and exact_small
        merged, median, p100 = conn.execute(
            """
            select mart_hist_merge(h), mart_hist_quantile(mart_hist_merge(h), 0.5),
                mart_hist_quantile(mart_hist_merge(h), 1)
            from (values ('{"3": 2, "200": 1}'::jsonb), ('{"3": 1, "5": 1}'::jsonb)) as t (h)
            """
        ).fetchone()
        assert merged == {"3": 3, "5": 1, "200": 1}
        assert median == 3.0
        assert p100 == conn.execute("select mart_hist_bucket_value(200)").fetchone()[0]
        assert conn.execute("select mart_hist_quantile('{}'::jsonb, 0.5)").fetchone()[0] is None
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select mart_hist_quantile('{\"1\": 1}'::jsonb, 1.5)")
        # a null histogram or q is null, before q's range is checked
        assert conn.execute(
            "select mart_hist_quantile(null::jsonb, 1.5),"
            " mart_hist_quantile('{\"1\": 1}'::jsonb, null)"
        ).fetchone() == (None, None)


def test_quantiles_in_one_pass_match_one_at_a_time(module_db: str) -> None:
    with psycopg.connect(module_db, autocommit=True) as conn:
        mismatches, checked = conn.execute(
            """
            with histograms as (
                select g as seed, jsonb_object_agg(b, n) as h
                from (
                    select g, mart_hist_bucket((exp(random() * 9))::bigint) as b, count(*) as n
                    from generate_series(1, 20) as g, generate_series(1, 200) as r
                    group by g, b
                ) as counts
                group by g
            )
            select
                count(*) filter (
                    where mart_hist_quantiles(h, array[0, 0.5, 0.95, 0.99, 1]) is distinct from
                    array[mart_hist_quantile(h, 0), mart_hist_quantile(h, 0.5),
                        mart_hist_quantile(h, 0.95), mart_hist_quantile(h, 0.99),
                        mart_hist_quantile(h, 1)]
                ),
                count(*)
            from histograms
            """
        ).fetchone()
        assert (mismatches, checked) == (0, 20)
        empty = conn.execute("select mart_hist_quantiles('{}'::jsonb, array[0.5])").fetchone()[0]
        assert empty is None

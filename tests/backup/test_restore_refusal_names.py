"""The refusal of a non-empty target names real objects (what is in the way, where)."""

from __future__ import annotations

import psycopg

from mcp_analytics.warehouse.restore import user_objects


def test_user_objects_are_named_schema_dot_name(bootstrapped_db: str) -> None:
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        count, first = user_objects(conn, limit=500)
        functions = {
            f"function {schema}.{name}"
            for schema, name in conn.execute(
                "select n.nspname, p.proname from pg_proc as p"
                " join pg_namespace as n on n.oid = p.pronamespace"
                " where n.nspname not in ('pg_catalog', 'information_schema')"
                " and n.nspname not like 'pg_toast%%' and n.nspname not like 'pg_temp%%'"
            )
        }
    assert count > 0 and first
    assert not any("%" in name for name in first), first
    assert "relation public.tool_usage_logs" in first
    assert functions & set(first), first[:10]

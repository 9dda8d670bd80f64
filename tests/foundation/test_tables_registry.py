"""The raw-table registry (`warehouse/tables.py`) is what the database, the event schema and the
dbt sources say: checked against a freshly bootstrapped database and the project's files."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import yaml

from mcp_analytics.config import settings
from mcp_analytics.ingest.events import TABLES as EVENT_SCHEMA
from mcp_analytics.warehouse.tables import (
    RAW_TABLES,
    partitioned_tables,
    raw_table,
    raw_table_names,
)


@pytest.fixture(scope="module")
def conn(module_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_db, autocommit=True) as connection:
        yield connection


def test_every_registered_table_exists_with_its_time_column(conn: psycopg.Connection) -> None:
    tables = {
        (schema, name)
        for schema, name in conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
        ).fetchall()
    }
    for table in RAW_TABLES:
        assert (table.schema, table.name) in tables, table.qualified_name
        if table.time_column:
            column_type = conn.execute(
                "select data_type from information_schema.columns"
                " where table_schema = %s and table_name = %s and column_name = %s",
                (table.schema, table.name, table.time_column),
            ).fetchone()
            assert column_type == ("timestamp with time zone",), table.name


def test_partitioned_means_monthly_range_partitions_on_the_time_column(
    conn: psycopg.Connection,
) -> None:
    rows = conn.execute(
        """
        select n.nspname, c.relname, pt.partstrat, a.attname,
               exists (
                   select 1 from pg_inherits as i inner join pg_class as p on i.inhrelid = p.oid
                   where i.inhparent = c.oid and pg_get_expr(p.relpartbound, p.oid) = 'DEFAULT'
               )
        from pg_partitioned_table as pt
        inner join pg_class as c on pt.partrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        inner join pg_attribute as a on a.attrelid = c.oid and a.attnum = pt.partattrs[0]
        where not c.relispartition and n.nspname not in ('pg_catalog', 'information_schema')
        """
    ).fetchall()
    in_database = {
        (schema, name): (strategy, key, default) for schema, name, strategy, key, default in rows
    }
    registered = {(t.schema, t.name): t for t in partitioned_tables()}
    # every partitioned table of the warehouse is registered as such, and nothing else is
    assert set(in_database) == set(registered)
    for ident, (strategy, key, has_default) in in_database.items():
        assert strategy == "r" and key == registered[ident].time_column and has_default, ident


def test_feeds_marts_means_late_data_triggers(conn: psycopg.Connection) -> None:
    triggered = {
        (schema, name): events
        for schema, name, events in conn.execute(
            """
            select n.nspname, c.relname, array_agg(t.tgname::text order by t.tgname)
            from pg_trigger as t
            inner join pg_class as c on t.tgrelid = c.oid
            inner join pg_namespace as n on c.relnamespace = n.oid
            where t.tgname like 'mart\\_dirty\\_on\\_%' and not c.relispartition
            group by 1, 2
            """
        ).fetchall()
    }
    assert set(triggered) == {(t.schema, t.name) for t in RAW_TABLES if t.feeds_marts}
    for events in triggered.values():
        assert events == ["mart_dirty_on_delete", "mart_dirty_on_insert", "mart_dirty_on_update"]


def test_retention_policies_date_rows_by_the_registered_time_column(
    conn: psycopg.Connection,
) -> None:
    policies = dict(
        conn.execute("select table_name, time_column from data_retention_policies").fetchall()
    )
    for table in RAW_TABLES:
        if table.feeds_marts:
            assert policies[table.name] == table.time_column, table.name


def test_the_event_schema_covers_exactly_the_telemetry_tables() -> None:
    assert set(EVENT_SCHEMA) == set(raw_table_names("telemetry"))
    assert {t.name for t in RAW_TABLES if t.ingested} == set(EVENT_SCHEMA)
    for table in RAW_TABLES:
        if table.time_column and table.ingested:
            assert table.time_column in {c.name for c in EVENT_SCHEMA[table.name]}


def test_the_dbt_sources_are_the_registered_tables() -> None:
    sources: set[tuple[str, str]] = set()
    models = settings().dbt_project_dir / "models"
    for path in models.rglob("*.yml"):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources") or []:
            schema = source.get("schema", source["name"])
            for table in source.get("tables") or []:
                sources.add((schema, table.get("identifier") or table["name"]))
    assert {name for _, name in sources} == {t.name for t in RAW_TABLES}
    # the raw schema is a var whose default is the registry's schema
    assert {schema for schema, _ in sources} == {"{{ var('raw_schema', 'public') }}"}
    assert {t.schema for t in RAW_TABLES} == {"public"}


def test_lookups_by_name() -> None:
    assert raw_table("tool_usage_logs") is raw_table("public.tool_usage_logs")
    assert raw_table("sessions").category == "auth"
    with pytest.raises(KeyError, match="'ingest_rejects' is not a raw table"):
        raw_table("ingest_rejects")
    with pytest.raises(KeyError):
        raw_table("analytics.tool_usage_logs")
    assert [t.name for t in partitioned_tables()] == ["tool_usage_logs", "mcp_request_logs"]

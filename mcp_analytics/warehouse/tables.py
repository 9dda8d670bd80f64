"""The registry of the raw tables, and the statistics the orchestration observes on them.

`RAW_TABLES` is the one list of the tables `mcp-analytics bootstrap` creates for data (the dbt
sources): the loader's event schema (`ingest.events.TABLES`), the demo, partition upkeep, the
Dagster raw assets and checks, and the tests all read it. A test checks it against a
bootstrapped database (tables, time columns, partitioning, late-data triggers), against the
event schema and against the dbt sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

Category = Literal["telemetry", "auth", "config", "inventory"]


@dataclass(frozen=True)
class RawTable:
    """One raw table of the warehouse.

    Attributes:
        name: table name, unqualified.
        category: `telemetry` (written by the collector and the loader), `auth` (users and
            their sessions), `config` (settings and retention policies) or `inventory` (what
            MCP servers advertise, written by `mcp-analytics inventory snapshot`).
        time_column: the timestamptz column that dates a row: the partition key, what
            observation reports as newest/oldest and what retention compares by default.
        partitioned: range-partitioned by month on `time_column`, with a DEFAULT partition
            (partition upkeep creates the months ahead).
        feeds_marts: statement triggers record the hours a change touches in the late-data
            ledger (`mart_dirty_buckets`) for the incremental marts.
        schema: the schema the bootstrap creates it in.
        received_column: the timestamptz column the database sets when a row arrives
            (bootstrap_sql/062): freshness is measured on it, never on `time_column`, which a
            sender's clock sets.
    """

    name: str
    category: Category
    description: str
    time_column: str | None = None
    partitioned: bool = False
    feeds_marts: bool = False
    schema: str = "public"
    received_column: str | None = None

    @property
    def qualified_name(self) -> str:
        """`schema.name`, e.g. `public.tool_usage_logs` (plain identifiers need no quotes)."""
        return f"{self.schema}.{self.name}"

    @property
    def ingested(self) -> bool:
        """Whether the collector and the loader write it (it has an event schema)."""
        from mcp_analytics.ingest.events import TABLES

        return self.name in TABLES


RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "tool_usage_logs",
        "telemetry",
        "One row per MCP tool call.",
        time_column="timestamp",
        partitioned=True,
        feeds_marts=True,
        received_column="received_at",
    ),
    RawTable(
        "mcp_request_logs",
        "telemetry",
        "One row per HTTP request to the MCP server.",
        time_column="timestamp",
        partitioned=True,
        feeds_marts=True,
        received_column="received_at",
    ),
    RawTable(
        "error_logs",
        "telemetry",
        "Application errors, with their resolution state.",
        time_column="timestamp",
        feeds_marts=True,
        received_column="received_at",
    ),
    RawTable(
        "performance_metrics",
        "telemetry",
        "Metric samples (name, value, labels, aggregation period).",
        time_column="timestamp",
        feeds_marts=True,
        received_column="received_at",
    ),
    RawTable("users", "auth", "Dashboard users (bcrypt password hashes)."),
    RawTable("sessions", "auth", "Dashboard sessions (token hashes only)."),
    RawTable("system_configuration", "config", "Key/value settings of the warehouse."),
    RawTable("data_retention_policies", "config", "How long each table keeps its rows."),
    # bootstrap_sql/082: snapshots of what MCP servers advertise, and each definition version
    RawTable(
        "mcp_inventory_snapshots",
        "inventory",
        "One row per snapshot of an MCP server's tools, prompts and resources.",
        time_column="taken_at",
    ),
    RawTable(
        "mcp_definition_versions",
        "inventory",
        "Each version of an advertised definition, once per stretch of snapshots.",
        time_column="last_seen_at",
    ),
)

_BY_NAME = {t.name: t for t in RAW_TABLES}


def raw_table(name: str) -> RawTable:
    """The registry entry of `name` (unqualified, or qualified with its schema).

    Raises:
        KeyError: `name` is not a raw table of the registry.
    """
    entry = _BY_NAME.get(name.split(".", 1)[1] if "." in name else name)
    if entry is None or ("." in name and entry.qualified_name != name):
        raise KeyError(f"{name!r} is not a raw table (known: {', '.join(_BY_NAME)})")
    return entry


def raw_table_names(category: Category | None = None) -> tuple[str, ...]:
    """Names of the raw tables (of one category), in registry order."""
    return tuple(t.name for t in RAW_TABLES if category is None or t.category == category)


def partitioned_tables() -> tuple[RawTable, ...]:
    """The raw tables partition upkeep keeps monthly partitions ahead for."""
    return tuple(t for t in RAW_TABLES if t.partitioned)


# --------------------------------------------------------------------------- observed facts


@dataclass(frozen=True)
class TableStats:
    """What observation records about one raw table (row counts, time range, partitions)."""

    table: str
    exists: bool
    row_count: int = 0
    newest: datetime | None = None
    oldest: datetime | None = None
    default_partition_rows: int | None = None  # None: not partitioned
    partitions: int | None = None
    #: when the latest row arrived (the registry's `received_column`): what freshness reads.
    last_received: datetime | None = None


def _one(
    conn: psycopg.Connection, query: sql.SQL | sql.Composed | str, params: Sequence[Any] = ()
) -> tuple[Any, ...]:
    """The single row `query` returns (aggregates and lookups that always yield one)."""
    row = conn.execute(query, params or None).fetchone()
    if row is None:
        raise RuntimeError(f"query returned no row: {query!r}")
    return row


def default_partition(conn: psycopg.Connection, table: str) -> str | None:
    """Qualified, quoted name of the DEFAULT partition of `table` (e.g. `public.x_default`), or
    None when it has none."""
    row = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname) from pg_inherits as i"
        " join pg_class as c on c.oid = i.inhrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where i.inhparent = to_regclass(%s) and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'",
        (table,),
    ).fetchone()
    return row[0] if row else None


def partition_count(conn: psycopg.Connection, table: str) -> int:
    """Number of partitions of `table` (DEFAULT included; 0 for a plain or missing table)."""
    query = "select count(*) from pg_inherits where inhparent = to_regclass(%s)"
    return int(_one(conn, query, (table,))[0])


def default_partition_rows(conn: psycopg.Connection, table: str) -> int:
    """Rows waiting in the DEFAULT partition of `table` (0 when it has none)."""
    name = default_partition(conn, table)
    if name is None:
        return 0
    return int(_one(conn, sql.SQL("select count(*) from {}").format(sql.SQL(name)))[0])


#: Event times are clamped to what Python's datetime holds (years 1 to 9999 in any time zone),
#: so a row written around ingest's time window (plain SQL, an older database) cannot break
#: the observation that would report it.
_CLAMPED = (
    "greatest(least({f}({c}), '9999-12-30 00:00:00+00'::timestamptz),"
    " '0001-01-02 00:00:00+00'::timestamptz)"
)


def table_stats(conn: psycopg.Connection, table: str) -> TableStats:
    """Row count, time range (registry's `time_column`, clamped to years 1-9999), when the
    latest row arrived (`received_column`) and partition facts of a raw table."""
    entry = raw_table(table)
    if _one(conn, "select to_regclass(%s)", (entry.qualified_name,))[0] is None:
        return TableStats(table=table, exists=False)
    ident = sql.Identifier(entry.schema, entry.name)
    newest = oldest = last_received = None
    if entry.time_column:
        column = sql.Identifier(entry.time_column)
        received = (
            sql.SQL("max({})").format(sql.Identifier(entry.received_column))
            if entry.received_column and _has_column(conn, entry, entry.received_column)
            else sql.SQL("null::timestamptz")
        )
        count, newest, oldest, last_received = _one(
            conn,
            sql.SQL("select count(*), {newest}, {oldest}, {received} from {t}").format(
                newest=sql.SQL(_CLAMPED.format(f="max", c="{c}")).format(c=column),
                oldest=sql.SQL(_CLAMPED.format(f="min", c="{c}")).format(c=column),
                received=received,
                t=ident,
            ),
        )
    else:
        (count,) = _one(conn, sql.SQL("select count(*) from {}").format(ident))
    return TableStats(
        table=table,
        exists=True,
        row_count=count,
        newest=newest,
        oldest=oldest,
        default_partition_rows=(
            default_partition_rows(conn, entry.qualified_name) if entry.partitioned else None
        ),
        partitions=partition_count(conn, entry.qualified_name) if entry.partitioned else None,
        last_received=last_received,
    )


def _has_column(conn: psycopg.Connection, entry: RawTable, column: str) -> bool:
    """Whether the table has `column` (a database bootstrapped before the file adding it)."""
    query = (
        "select count(*) from pg_attribute where attrelid = to_regclass(%s)"
        " and attname = %s and not attisdropped"
    )
    return bool(_one(conn, query, (entry.qualified_name, column))[0])

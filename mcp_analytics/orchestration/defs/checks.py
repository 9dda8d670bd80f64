"""Custom asset checks (dbt tests arrive as checks through dbt_assets.py).

- raw/<partitioned table>: DEFAULT partition empty (rows there mean a month without partition).
- maintenance/retention: every retention horizon of a table feeding the marts is longer than
  the marts' late-data window (the rule lives with retention: `warehouse.retention`, which
  also refuses to run against it).
- raw/<table feeding the marts>: nothing the late-data mechanism cannot absorb: no row older
  than the table's retention cutoff (it arrived after retention ran: the next run deletes it),
  and no pending ledger bucket older than the cutoff (the mart would rebuild an hour whose raw
  rows are gone).
- maintenance/archive_export: every archive the catalogue lists as exported is on disk, one
  file per entry, holding its verified row count (ERROR: rows retention removed exist nowhere
  else).
"""

from collections.abc import Callable, Iterator

import dagster as dg
import psycopg
from psycopg import sql

from mcp_analytics.orchestration.defs.dbt_assets import raw_key
from mcp_analytics.orchestration.defs.maintenance import ARCHIVE_EXPORT, PARTITION_UPKEEP, RETENTION
from mcp_analytics.orchestration.defs.resources import PostgresResource
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.archive import check_archive_files
from mcp_analytics.warehouse.retention import (
    late_data_window_hours,
    mart_source_policies,
    retention_horizon_problems,
)
from mcp_analytics.warehouse.tables import (
    RAW_TABLES,
    default_partition,
    default_partition_rows,
    partitioned_tables,
)


@dg.asset_check(
    asset=RETENTION,
    name="retention_horizon_exceeds_late_data_window",
    description="Every raw table's retention is longer than the marts' late-data window.",
)
def retention_horizon_check(postgres: PostgresResource) -> dg.AssetCheckResult:
    window = late_data_window_hours()
    with postgres.connection() as conn:
        problems = retention_horizon_problems(conn, window)
        policies = {p.table_name: p.retention_days for p in mart_source_policies(conn)}
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "late_data_window_hours": window,
            "retention_days": dg.MetadataValue.json(policies),
            "problems": dg.MetadataValue.json(problems),
        },
    )


def _raw_table_check(
    table: str,
    name: str,
    after: dg.AssetKey,
    description: str,
    verdict: Callable[[psycopg.Connection, str], dg.AssetCheckResult],
) -> dg.AssetChecksDefinition:
    """Check `name` on raw table `table`, run after the asset `after`: `verdict(conn, table)`
    on a warehouse connection."""

    @dg.asset_check(
        asset=raw_key(table), name=name, description=description, additional_deps=[after]
    )
    def check(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.connection() as conn:
            return verdict(conn, table)

    return check


def _default_partition_empty(conn: psycopg.Connection, table: str) -> dg.AssetCheckResult:
    name = default_partition(conn, table)
    rows = default_partition_rows(conn, table)
    months: list[str] = []
    if rows and name:
        months = [
            r[0]
            for r in conn.execute(
                sql.SQL(
                    "select distinct to_char(\"timestamp\" at time zone 'UTC', 'YYYY-MM')"
                    " from {} order by 1 limit 24"
                ).format(sql.SQL(name))
            ).fetchall()
        ]
    return dg.AssetCheckResult(
        passed=rows == 0,
        metadata={
            "default_partition": name or "",
            "rows_in_default": rows,
            "months": dg.MetadataValue.json(months),
        },
    )


def _pending_ledger_buckets_past_cutoff(conn: psycopg.Connection, table: str, days: int) -> int:
    """Dirty-hour ledger entries (dbt's late-data mechanism) older than `table`'s cutoff."""
    if db.scalar(conn, "select to_regclass('public.mart_dirty_buckets')") is None:
        return 0
    return db.scalar(
        conn,
        "select count(*) from public.mart_dirty_buckets as d"
        " join public.mart_sources as s on s.mart = d.mart"
        " where s.source_table = %s and d.bucket < now() - make_interval(days => %s)",
        (table, days),
    )


def _no_rows_past_retention_cutoff(conn: psycopg.Connection, table: str) -> dg.AssetCheckResult:
    policy = [p for p in mart_source_policies(conn) if p.table_name == table]
    if not policy:
        return dg.AssetCheckResult(passed=True, metadata={"policy": "none"})
    days, column = policy[0].retention_days, policy[0].time_column
    # Retention keeps unresolved errors whatever their age: they are not late.
    extra = sql.SQL(" and resolved" if table == "error_logs" else "")
    count, oldest = db.fetch_one(
        conn,
        sql.SQL(
            "select count(*), min({c}) from {t} where {c} < now() - make_interval(days => %s){x}"
        ).format(c=sql.Identifier(column), t=sql.Identifier(table), x=extra),
        (days,),
    )
    pending = _pending_ledger_buckets_past_cutoff(conn, table, days)
    return dg.AssetCheckResult(
        passed=count == 0 and pending == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "retention_days": days,
            "rows_past_cutoff": count,
            "oldest": dg.MetadataValue.text(str(oldest) if oldest else ""),
            "ledger_buckets_past_cutoff": pending,
        },
    )


@dg.asset_check(
    asset=ARCHIVE_EXPORT,
    name="archive_files_intact",
    description="Every archive the catalogue lists as exported is on disk, one file per entry, "
    "with the row count retention verified (the rows exist nowhere else).",
)
def archive_files_check(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        checked, problems = check_archive_files(conn)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "exports_checked": checked,
            "problems": dg.MetadataValue.json(
                [
                    {"archive": p.archive_table, "file": p.path, "problem": p.problem}
                    for p in problems[:50]
                ]
            ),
        },
    )


def _checks() -> Iterator[dg.AssetChecksDefinition]:
    for table in partitioned_tables():
        yield _raw_table_check(
            table.name,
            "default_partition_empty",
            PARTITION_UPKEEP,
            f"No rows wait in the DEFAULT partition of {table.name} (a month without "
            "partition); partition upkeep moves them into their month.",
            _default_partition_empty,
        )
    for table in RAW_TABLES:
        if table.feeds_marts:
            yield _raw_table_check(
                table.name,
                "no_rows_past_retention_cutoff",
                RETENTION,
                f"No row of {table.name} is older than its retention cutoff: such rows arrived "
                "later than the late-data mechanism can absorb before retention removes them.",
                _no_rows_past_retention_cutoff,
            )
    yield retention_horizon_check
    yield archive_files_check


CHECKS = list(_checks())

"""Retention: the one driver of `apply_retention()` (bootstrap_sql/040, 041), and its rules.

The work happens in the database function (archive, verify, detach, delete in batches); the
seed's `cleanup_old_data()` and the dbt macro `apply_retention` call it directly for one
transaction. `apply_retention()` here is what `mcp-analytics retention` and the Dagster asset
`maintenance/retention` run: it refuses policies shorter than the marts' late-data window, holds
the warehouse lock (so no dbt build starts between tables), commits one table at a time (a
partition's exclusive lock lasts only while its own table is processed), relays the NOTICEs and
returns one RetentionReport.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from mcp_analytics.warehouse.lock import TIMEOUT_SETTING
from mcp_analytics.warehouse.notices import (
    Notice,
    database_error,
    relay_notices,
    require_autocommit,
)
from mcp_analytics.warehouse.report import MetadataValue, Total, elapsed_ms, text_table
from mcp_analytics.warehouse.tables import RAW_TABLES

#: The dbt var holding the window (hours) every build re-verifies against the raw rows.
LATE_DATA_VAR = "mart_exactness_window_hours"
#: The window when the var is missing or 0 (0 there means "verify the whole history").
DEFAULT_LATE_DATA_HOURS = 48.0


class RetentionError(RuntimeError):
    """The database refused (a bad policy, a lock timeout...) or a rule did.

    The failing transaction changed nothing; `completed` holds the tables already committed
    before it (per-table runs only), and `report` their RetentionReport when there are any.
    """

    def __init__(self, message: str, completed: Sequence[RetentionResult] = ()) -> None:
        super().__init__(message)
        self.completed = tuple(completed)
        self.report: RetentionReport | None = None


@dataclass(frozen=True)
class RetentionResult:
    """One row of `apply_retention()`: what happened to one policy's table."""

    table_name: str
    action: str  # 'archive' | 'delete' | 'disabled'
    partitions_detached: int
    rows_archived: int
    rows_deleted: int
    cutoff: datetime
    duration_ms: int
    dry_run: bool
    detail: str


@dataclass(frozen=True)
class RetentionPolicy:
    """An enabled policy of a table that feeds the marts."""

    table_name: str
    retention_days: int
    time_column: str


@dataclass(frozen=True)
class RetentionReport:
    """Retention of one run (CLI output and Dagster metadata)."""

    results: tuple[RetentionResult, ...]
    dry_run: bool
    duration_ms: int
    late_data_window_hours: float
    #: Policies not longer than the late-data window (a real run refuses them).
    horizon_problems: tuple[str, ...] = ()

    rows_deleted = Total("rows_deleted")
    rows_archived = Total("rows_archived")
    partitions_detached = Total("partitions_detached")

    def describe(self) -> str:
        """A fixed-width table, one line per policy, then the detail of each table that changed,
        warnings, and a total line."""
        if not self.results:
            return "no retention policies"
        header = ("table", "action", "partitions", "rows", "archived", "cutoff (UTC)", "ms")
        rows = [
            (
                r.table_name,
                r.action if r.action == "disabled" or not self.dry_run else f"would {r.action}",
                str(r.partitions_detached),
                str(r.rows_deleted),
                str(r.rows_archived),
                r.cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if r.cutoff else "",
                str(r.duration_ms),
            )
            for r in self.results
        ]
        out = text_table(header, rows)
        out += [
            f"{r.table_name}: {r.detail}"
            for r in self.results
            if r.rows_deleted or r.partitions_detached
        ]
        out += [f"warning: {problem}" for problem in self.horizon_problems]
        verb = "would go (dry run: nothing changed)" if self.dry_run else "removed"
        out.append(
            f"total: {self.rows_deleted} row(s) in {self.partitions_detached} whole partition(s)"
            f" and batches {verb}"
        )
        return "\n".join(out)

    def as_metadata(self) -> dict[str, MetadataValue]:
        """`dry_run`, totals (`rows_deleted`, `rows_archived`, `partitions_detached`),
        `late_data_window_hours`, `duration_ms`, and per table `rows_deleted/<t>`,
        `rows_archived/<t>`, `partitions_detached/<t>`."""
        metadata: dict[str, MetadataValue] = {"dry_run": self.dry_run}
        for r in self.results:
            metadata[f"rows_deleted/{r.table_name}"] = int(r.rows_deleted or 0)
            metadata[f"rows_archived/{r.table_name}"] = int(r.rows_archived or 0)
            metadata[f"partitions_detached/{r.table_name}"] = int(r.partitions_detached or 0)
        metadata["rows_deleted"] = self.rows_deleted
        metadata["rows_archived"] = self.rows_archived
        metadata["partitions_detached"] = self.partitions_detached
        metadata["late_data_window_hours"] = self.late_data_window_hours
        metadata["duration_ms"] = self.duration_ms
        return metadata


# --------------------------------------------------------------------------- the horizon rule


def late_data_window_hours(project_dir: Path | None = None) -> float:
    """The marts' late-data window in hours: how long raw rows must outlive their arrival.

    The marts follow a ledger of dirty hours, not a fixed lookback: late rows are absorbed as
    long as their raw rows outlive the next build. The window the project promises is the dbt
    var `mart_exactness_window_hours` in dbt_project.yml (`project_dir`, default the project's
    dbt project; a historical name: the exactness tests compare what each build rebuilt); 48 h
    when it is missing or 0.

    Raises:
        ValueError: the var is not a number.
    """
    import yaml

    from mcp_analytics.config import settings

    project_file = (project_dir or settings().dbt_project_dir) / "dbt_project.yml"
    data = yaml.safe_load(project_file.read_text()) if project_file.exists() else None
    value = ((data or {}).get("vars") or {}).get(LATE_DATA_VAR)
    if value is None:
        return DEFAULT_LATE_DATA_HOURS
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{project_file}: var {LATE_DATA_VAR} must be a number of hours, got {value!r}"
        ) from None
    return hours if hours > 0 else DEFAULT_LATE_DATA_HOURS


def mart_source_policies(conn: psycopg.Connection) -> list[RetentionPolicy]:
    """Enabled retention policies of the raw tables that feed the marts (registry's
    `feeds_marts`), by table name; the time column defaults to the registry's."""
    feeds = {t.name: t for t in RAW_TABLES if t.feeds_marts}
    rows = conn.execute(
        "select table_name, retention_days, time_column from data_retention_policies"
        " where coalesce(cleanup_enabled, true) and table_name = any(%s) order by table_name",
        (list(feeds),),
    ).fetchall()
    return [
        RetentionPolicy(name, int(days), column or feeds[name].time_column or "timestamp")
        for name, days, column in rows
    ]


def retention_horizon_problems(
    conn: psycopg.Connection, window_hours: float | None = None, *, table: str | None = None
) -> list[str]:
    """Policies of tables feeding the marts whose retention is not longer than the late-data
    window (`window_hours`, default `late_data_window_hours()`): retention could delete rows
    before the marts summarise them. Only `table`'s policy when given. Empty when all is well.
    """
    window = late_data_window_hours() if window_hours is None else window_hours
    return [
        f"{p.table_name}: retention {p.retention_days} d is not longer than the late-data"
        f" window {window:g} h"
        for p in mart_source_policies(conn)
        if p.retention_days * 24 <= window and table in (None, p.table_name)
    ]


# --------------------------------------------------------------------------- the driver

_REPORT = (
    "select table_name, action, partitions_detached, rows_archived, rows_deleted,"
    " cutoff, duration_ms, dry_run, detail from apply_retention(%s, %s)"
)


def _run(
    conn: psycopg.Connection, dry_run: bool, table: str | None, per_table: bool
) -> list[RetentionResult]:
    if dry_run or table is not None or not per_table:
        try:
            with conn.transaction():
                return [RetentionResult(*r) for r in conn.execute(_REPORT, (dry_run, table))]
        except psycopg.Error as err:
            raise RetentionError(database_error(err)) from None
    try:
        # Checks every policy first: a bad one stops the run before anything moves.
        names = [r[0] for r in conn.execute("select retention_policy_tables()").fetchall()]
    except psycopg.Error as err:
        raise RetentionError(database_error(err)) from None
    results: list[RetentionResult] = []
    for name in names:
        try:
            with conn.transaction():
                rows = conn.execute(_REPORT, (False, name)).fetchall()
        except psycopg.Error as err:
            raise RetentionError(database_error(err), results) from None
        results += [RetentionResult(*r) for r in rows]
    return results


@contextlib.contextmanager
def _warehouse_wait(conn: psycopg.Connection, seconds: float) -> Iterator[None]:
    """For the block: the warehouse lock's wait in `conn`'s session (`lock.TIMEOUT_SETTING`),
    then the session's own setting again."""
    before = conn.execute("select current_setting(%s, true)", (TIMEOUT_SETTING,)).fetchone()
    conn.execute("select set_config(%s, %s, false)", (TIMEOUT_SETTING, str(seconds)))
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute(
                "select set_config(%s, %s, false)", (TIMEOUT_SETTING, (before or [""])[0] or "")
            )


def apply_retention(
    conn: psycopg.Connection,
    *,
    dry_run: bool = False,
    table: str | None = None,
    per_table: bool = True,
    on_notice: Notice | None = None,
    window_hours: float | None = None,
    lock_timeout_seconds: float = 3600.0,
) -> RetentionReport:
    """Apply the retention policies (all, or the one whose table_name is `table`).

    A real run first refuses any policy of a table feeding the marts that is not longer than
    the late-data window (a dry run reports it instead). Every policy is checked before
    anything moves; then, with `per_table`, each table is one transaction; without it (or for
    one `table`, or a dry run) the whole run is one transaction. Each transaction holds the
    warehouse lock exclusively (`apply_retention()` takes it, waiting up to
    `lock_timeout_seconds` for running dbt builds and saying so in a notice), so no build
    overlaps a table's retention; a build may run between two tables.

    Args:
        conn: an autocommit connection (the driver commits its own work).
        on_notice: receives progress: the database's NOTICEs and lock waits.
        window_hours: the late-data window; default `late_data_window_hours()`.

    Returns:
        A RetentionReport with one result per policy, in table-name order.

    Raises:
        RetentionError: a rule or the database refused; nothing of the failing table changed,
            `completed` lists the tables committed before it.
    """
    require_autocommit(conn, "retention", RetentionError)
    started = time.monotonic()
    window = late_data_window_hours() if window_hours is None else window_hours
    try:
        problems = retention_horizon_problems(conn, window, table=table)
    except psycopg.Error as err:
        raise RetentionError(database_error(err)) from None
    if problems and not dry_run:
        raise RetentionError("retention refused: " + "; ".join(problems))

    def report(results: Sequence[RetentionResult]) -> RetentionReport:
        return RetentionReport(
            results=tuple(results),
            dry_run=dry_run,
            duration_ms=elapsed_ms(started, time.monotonic()),
            late_data_window_hours=window,
            horizon_problems=tuple(problems),
        )

    with relay_notices(conn, on_notice), _warehouse_wait(conn, lock_timeout_seconds):
        try:
            return report(_run(conn, dry_run, table, per_table))
        except RetentionError as err:
            if err.completed:
                err.report = report(err.completed)
            raise

"""Retention and partition upkeep from Python: thin calls of the database functions.

The logic lives in the database (bootstrap_sql/040_retention.sql `apply_retention`,
bootstrap_sql/004 `create_monthly_partitions`), so the CLI, the dbt macros and the orchestration
all run the same code. This module only calls it, relays its NOTICEs and formats the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

Notice = Callable[[str], None]


class RetentionError(RuntimeError):
    """The database refused: a bad policy, a lock timeout...

    The failing transaction changed nothing; `completed` holds the tables already committed
    before it (per-table runs only).
    """

    def __init__(self, message: str, completed: list[RetentionResult] | None = None) -> None:
        super().__init__(message)
        self.completed = completed or []


@dataclass(frozen=True)
class RetentionResult:
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
class PartitionResult:
    table: str
    created: int
    partitions: int


def _relay(conn: psycopg.Connection, on_notice: Notice | None) -> Callable[[], None]:
    """Forward the server's NOTICEs to `on_notice`; returns the function that stops it."""
    if on_notice is None:
        return lambda: None

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            on_notice(diag.message_primary)

    conn.add_notice_handler(handler)
    return lambda: conn.remove_notice_handler(handler)


def _check_autocommit(conn: psycopg.Connection) -> None:
    # Each call commits its own transaction(s); inside a caller's open transaction they would
    # silently become savepoints and roll back with it.
    if not conn.autocommit:
        raise RetentionError("retention needs an autocommit connection (it commits its own work)")


def _error(err: psycopg.Error, completed: list[RetentionResult] | None = None) -> RetentionError:
    diag = err.diag
    message = diag.message_primary or str(err)
    if diag.message_hint:
        message += f" ({diag.message_hint})"
    return RetentionError(message, completed)


_REPORT = (
    "select table_name, action, partitions_detached, rows_archived, rows_deleted,"
    " cutoff, duration_ms, dry_run, detail from apply_retention(%s, %s)"
)


def apply_retention(
    conn: psycopg.Connection,
    *,
    dry_run: bool = False,
    table: str | None = None,
    per_table: bool = True,
    on_notice: Notice | None = None,
) -> list[RetentionResult]:
    """Apply the retention policies (all, or the one for `table`).

    Every policy is checked first (a bad one stops the run before anything moves). Then, with
    `per_table`, each table is one transaction, so a partition's exclusive lock is held only
    while its own table is processed; without it, the whole run is one transaction.
    """
    _check_autocommit(conn)
    stop = _relay(conn, on_notice)
    try:
        if dry_run or table is not None or not per_table:
            with conn.transaction():
                return [RetentionResult(*r) for r in conn.execute(_REPORT, (dry_run, table))]
        tables = [r[0] for r in conn.execute("select retention_policy_tables()").fetchall()]
        results: list[RetentionResult] = []
        for name in tables:
            try:
                with conn.transaction():
                    rows = conn.execute(_REPORT, (False, name)).fetchall()
            except psycopg.Error as err:
                raise _error(err, results) from None
            results += [RetentionResult(*r) for r in rows]
        return results
    except psycopg.Error as err:
        raise _error(err) from None
    finally:
        stop()


def partitioned_tables(conn: psycopg.Connection) -> list[str]:
    """Range-partitioned tables of the warehouse (not partitions themselves), schema-qualified."""
    rows = conn.execute(
        """
        select format('%I.%I', n.nspname, c.relname)
        from pg_partitioned_table as pt
        inner join pg_class as c on pt.partrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        where pt.partstrat = 'r' and not c.relispartition
            and n.nspname not in ('pg_catalog', 'information_schema', 'archive')
            and n.nspname not like 'pg\\_%%'
        order by 1
        """
    ).fetchall()
    return [r[0] for r in rows]


def create_partitions(
    conn: psycopg.Connection,
    tables: Iterable[str],
    *,
    months_ahead: int = 3,
    months_behind: int = 0,
    on_notice: Notice | None = None,
) -> list[PartitionResult]:
    """Create monthly partitions (moving rows waiting in DEFAULT); one transaction per table."""
    _check_autocommit(conn)
    results = []
    stop = _relay(conn, on_notice)
    try:
        for table in tables:
            with conn.transaction():
                created = conn.execute(
                    "select create_monthly_partitions(%s, %s, %s)",
                    (table, months_ahead, months_behind),
                ).fetchone()[0]
                count = conn.execute(
                    "select count(*) from pg_inherits where inhparent = to_regclass(%s)", (table,)
                ).fetchone()[0]
            results.append(PartitionResult(table, created, count))
    except psycopg.Error as err:
        raise _error(err) from None
    finally:
        stop()
    return results


def format_report(results: Sequence[RetentionResult]) -> str:
    """A fixed-width table, one line per policy, then the detail of each table that changed."""
    if not results:
        return "no retention policies"
    dry = results[0].dry_run
    header = ("table", "action", "partitions", "rows", "archived", "cutoff (UTC)", "ms")
    lines = [
        (
            r.table_name,
            r.action if r.action == "disabled" or not dry else f"would {r.action}",
            str(r.partitions_detached),
            str(r.rows_deleted),
            str(r.rows_archived),
            r.cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if r.cutoff else "",
            str(r.duration_ms),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *lines]
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        if r.rows_deleted or r.partitions_detached:
            out.append(f"{r.table_name}: {r.detail}")
    total = sum(r.rows_deleted for r in results)
    parts = sum(r.partitions_detached for r in results)
    verb = "would go (dry run: nothing changed)" if dry else "removed"
    out.append(f"total: {total} row(s) in {parts} whole partition(s) and batches {verb}")
    return "\n".join(out)

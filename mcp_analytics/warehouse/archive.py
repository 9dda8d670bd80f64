"""Archive export: the one driver that finishes an archive, used by the CLI and Dagster.

The retention function moves expired partitions/rows into `archive.*` tables and lists them in
`archive.archived_partitions`. `export_archives()` (`mcp-analytics archive export`, the Dagster
asset `maintenance/archive_export`) writes each listed table with `exported_at is null` to
`<archive_dir>/<source_table>/<archive_table>__<UTC time>_<8 hex>.parquet` as zstd-compressed
Parquet (via a temporary name, linked to its own when complete), reads it back and compares it
with the database (row count, and a checksum of a key column), and only then marks it exported
and drops it, in one transaction. A month archived twice has two archive tables of one name:
each export has a file name of its own and never writes over a file that exists. One table is
exported at a time (the table lock `public.archive_export_lock`, which only administrators can
take). `check_archive_files()` (the Dagster check `archive_files_intact`) checks every
catalogued export against its file.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from mcp_analytics.warehouse.notices import Notice
from mcp_analytics.warehouse.report import MetadataValue, Total, elapsed_ms, text_table

CATALOG = "archive.archived_partitions"
BATCH_ROWS = 50_000
# Preferred columns for the verification checksum, in order: a unique-ish key of the raw tables.
KEY_COLUMNS = ("id", "execution_id", "request_id")


class ArchiveError(RuntimeError):
    """An export could not finish: the archived table it stopped at is kept as it was.

    `report` lists the exports done (verified and dropped) before it, when there are any.
    """

    def __init__(self, message: str, report: ArchiveReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class ArchiveVerificationError(ArchiveError):
    """The Parquet file read back does not match the archived table: nothing was dropped."""


@dataclass(frozen=True)
class PendingExport:
    """A catalog row of `archive.archived_partitions` not exported yet."""

    catalog_id: int
    source_schema: str
    source_table: str
    archive_schema: str
    archive_table: str
    #: rows the retention run archived and verified.
    row_count: int

    @property
    def archive_name(self) -> str:
        """`schema.table` of the archived table, e.g. `archive.tool_usage_logs_2025_01`."""
        return f"{self.archive_schema}.{self.archive_table}"

    def folder(self, archive_dir: Path) -> Path:
        """The folder of its Parquet files: `<archive_dir>/<source table>` (the source's schema
        prefixes the folder when it is not `public`)."""
        name = (
            self.source_table
            if self.source_schema in (None, "public")
            else f"{self.source_schema}.{self.source_table}"
        )
        return archive_dir / name

    def path(self, archive_dir: Path) -> Path:
        """What its file is called, as a pattern: `<folder>/<archive table>__*.parquet`. A
        month archived twice gets two archive tables of one name, so each export names its
        file uniquely (`unique_path`) and never writes over one."""
        return self.folder(archive_dir) / f"{self.archive_table}__*.parquet"

    def unique_path(self, archive_dir: Path, now: datetime | None = None) -> Path:
        """A new file name for its export: `<folder>/<archive table>__<UTC time>_<8 hex>.parquet`
        (e.g. `tool_usage_logs_2026_08__20261130T023000Z_3f2a9c1e.parquet`)."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.archive_table}__{stamp}_{uuid.uuid4().hex[:8]}.parquet"
        return self.folder(archive_dir) / name


@dataclass(frozen=True)
class ExportResult:
    """One archived table written, verified and dropped."""

    catalog_id: int
    source_table: str
    archive_table: str
    path: Path
    rows: int
    bytes: int
    checksum_column: str
    checksum: str
    duration_ms: int


@dataclass(frozen=True)
class ArchiveReport:
    """Archive export of one run (CLI output and Dagster metadata).

    A dry run lists in `pending` what would be exported and changes nothing; a real run lists
    in `exported` what was written, verified and dropped.
    """

    directory: Path
    dry_run: bool
    pending: tuple[PendingExport, ...]
    exported: tuple[ExportResult, ...]
    duration_ms: int

    rows_exported = Total("rows", over="exported")
    bytes_written = Total("bytes", over="exported")

    def describe(self) -> str:
        """A fixed-width table of the archived tables (with their files), then a total line."""
        if self.dry_run:
            if not self.pending:
                return "nothing to export (dry run)"
            listed = [
                (p.archive_name, p.source_table, str(p.row_count), str(p.path(self.directory)))
                for p in self.pending
            ]
            out = text_table(("archived table", "source", "rows", "would write"), listed)
            total = sum(p.row_count for p in self.pending)
            out.append(
                f"total: {len(self.pending)} table(s), {total} row(s) would be exported"
                " (dry run: nothing changed)"
            )
            return "\n".join(out)
        if not self.exported:
            return "nothing to export"
        rows = [
            (r.archive_table, r.source_table, str(r.rows), str(r.bytes), str(r.path))
            for r in self.exported
        ]
        out = text_table(("archived table", "source", "rows", "bytes", "file"), rows)
        out.append(
            f"total: {len(self.exported)} table(s), {self.rows_exported} row(s),"
            f" {self.bytes_written} bytes exported to {self.directory}, verified and dropped"
        )
        return "\n".join(out)

    def as_metadata(self) -> dict[str, MetadataValue]:
        """`dry_run`, `tables_exported`, `rows_exported`, `bytes_written`, `tables_pending`,
        `archive_dir`, `duration_ms`, and `rows_exported/<source table>`."""
        metadata: dict[str, MetadataValue] = {"dry_run": self.dry_run}
        for r in self.exported:
            key = f"rows_exported/{r.source_table}"
            metadata[key] = int(metadata.get(key, 0)) + r.rows
        metadata["tables_exported"] = len(self.exported)
        metadata["rows_exported"] = self.rows_exported
        metadata["bytes_written"] = self.bytes_written
        metadata["tables_pending"] = len(self.pending) - len(self.exported)
        metadata["archive_dir"] = str(self.directory)
        metadata["duration_ms"] = self.duration_ms
        return metadata


@dataclass(frozen=True)
class _Column:
    name: str
    pg_type: str  # format_type(), e.g. "numeric(10,2)"
    arrow: pa.DataType
    as_text: bool  # selected as ::text (json, inet, enums, arrays, ...)


#: PostgreSQL types (format_type() without modifiers) stored natively in Parquet.
_NATIVE_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
    "text": pa.string(),
    "character varying": pa.string(),
    "character": pa.string(),
}


def _arrow_type(pg_type: str) -> tuple[pa.DataType, bool]:
    """(Arrow type, read as ::text) of a column of type `pg_type` (format_type())."""
    base = pg_type.split("(")[0].strip()
    if base in _NATIVE_TYPES:
        return _NATIVE_TYPES[base], False
    if base == "numeric" and "(" in pg_type:
        precision, scale = (int(x) for x in pg_type.split("(")[1].rstrip(")").split(","))
        return pa.decimal128(precision, scale), False
    # jsonb, inet, enums, arrays, unconstrained numeric...: their text form, losslessly.
    return pa.string(), True


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[_Column]:
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a"
        " where a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass"
        " and a.attnum > 0 and not a.attisdropped order by a.attnum",
        (schema, table),
    ).fetchall()
    return [_Column(name, pg_type, *_arrow_type(pg_type)) for name, pg_type in rows]


_CHECKSUM_TYPES = (pa.int64(), pa.int32(), pa.int16(), pa.string())


def _checksum_column(columns: list[_Column]) -> _Column:
    # Only integers and plain strings print the same in PostgreSQL and Python.
    usable = [c for c in columns if c.arrow in _CHECKSUM_TYPES and not c.as_text]
    by_name = {c.name: c for c in usable}
    for name in KEY_COLUMNS:
        if name in by_name:
            return by_name[name]
    if not usable:
        raise ArchiveVerificationError("no integer or text column to checksum")
    return usable[0]


def _db_checksum(conn: psycopg.Connection, schema: str, table: str, column: str) -> tuple[int, str]:
    """(rows, md5 of the key column's non-null text values sorted bytewise) of a table.

    collate "C" sorts like Python's str order, so `_file_checksum` computes the same digest.
    """
    row = conn.execute(
        sql.SQL(
            "select count(*), md5(coalesce(string_agg({c}::text, ',' order by {c}::text"
            " collate \"C\") filter (where {c} is not null), '')) from {t}"
        ).format(c=sql.Identifier(column), t=sql.Identifier(schema, table))
    ).fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), str(row[1])


def _file_checksum(path: Path, column: str) -> tuple[int, str]:
    table = pq.read_table(path)
    values = [str(v) for v in table.column(column).to_pylist() if v is not None]
    values.sort()
    return table.num_rows, hashlib.md5(",".join(values).encode()).hexdigest()


def _write_parquet(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: list[_Column],
    path: Path,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    arrow_schema = pa.schema([pa.field(c.name, c.arrow) for c in columns])
    select_list = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c.name)) if c.as_text else sql.Identifier(c.name)
        for c in columns
    )
    query = sql.SQL("select {} from {}").format(select_list, sql.Identifier(schema, table))
    written = 0
    # Created 0600 before pyarrow opens it (which keeps the mode): archives hold raw telemetry.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    with (
        pq.ParquetWriter(path, arrow_schema, compression="zstd") as writer,
        conn.transaction(),
        conn.cursor(name=f"mcpa_export_{os.getpid()}") as cur,
    ):
        cur.itersize = BATCH_ROWS
        cur.execute(query)
        while batch := cur.fetchmany(BATCH_ROWS):
            arrays = [
                pa.array([row[i] for row in batch], type=col.arrow) for i, col in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=arrow_schema))
            written += len(batch)
            if on_rows is not None:
                on_rows(written)


def pending_exports(conn: psycopg.Connection) -> list[PendingExport]:
    """The catalog rows not exported yet, oldest first (empty before the bootstrap's 040)."""
    row = conn.execute("select to_regclass(%s)", (CATALOG,)).fetchone()
    if row is None or row[0] is None:
        return []
    rows = conn.execute(
        "select id, source_schema, source_table, archive_schema, archive_table, row_count"
        f" from {CATALOG} where exported_at is null order by id"
    ).fetchall()
    return [PendingExport(*r) for r in rows]


def export_one(
    conn: psycopg.Connection,
    entry: PendingExport,
    archive_dir: Path,
    on_notice: Notice | None = None,
) -> ExportResult:
    """Write one archived table to Parquet, verify it, then mark it exported and drop it.

    Raises:
        ArchiveVerificationError: the table or the file does not match the catalog (row count,
            checksum): the table is kept and no file is left.
        psycopg.Error: the database failed (the table is kept).
    """
    started = time.monotonic()
    say = on_notice or (lambda _message: None)
    schema, table = entry.archive_schema, entry.archive_table
    path = entry.unique_path(archive_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    columns = _columns(conn, schema, table)
    key = _checksum_column(columns)
    db_rows, db_sum = _db_checksum(conn, schema, table, key.name)
    if db_rows != entry.row_count:
        raise ArchiveVerificationError(
            f"{entry.archive_name} holds {db_rows} rows, the catalog says {entry.row_count}"
        )
    say(f"exporting {entry.archive_name} ({db_rows} rows) to {path}")

    def progress(written: int) -> None:
        if db_rows > BATCH_ROWS:
            say(f"  {entry.archive_name}: {written}/{db_rows} rows written")

    partial = path.with_suffix(".parquet.partial")
    try:
        _write_parquet(conn, schema, table, columns, partial, progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    file_rows, file_sum = _file_checksum(partial, key.name)
    if (file_rows, file_sum) != (db_rows, db_sum):
        partial.unlink(missing_ok=True)
        raise ArchiveVerificationError(
            f"{entry.archive_name}: Parquet has {file_rows} rows (checksum {file_sum}),"
            f" the table {db_rows} rows (checksum {db_sum}); table kept"
        )
    try:
        # A hard link is created only where no file is: an archive is never written over.
        os.link(partial, path)
    except FileExistsError:
        raise ArchiveError(f"{path} exists already: refusing to write over it") from None
    finally:
        partial.unlink(missing_ok=True)
    with conn.transaction():
        conn.execute(
            f"update {CATALOG} set exported_at = now(), export_path = %s where id = %s",
            (str(path), entry.catalog_id),
        )
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, table)))
    say(f"  {entry.archive_name}: verified ({key.name} checksum), dropped from the database")
    return ExportResult(
        catalog_id=entry.catalog_id,
        source_table=entry.source_table,
        archive_table=entry.archive_name,
        path=path,
        rows=db_rows,
        bytes=path.stat().st_size,
        checksum_column=key.name,
        checksum=db_sum,
        duration_ms=elapsed_ms(started, time.monotonic()),
    )


#: Held (EXCLUSIVE, for one table's export) so that two exports never export one table twice:
#: a table (bootstrap_sql/063) which only the owner and mcp_admin can lock, where an advisory
#: key could be held by any role.
EXPORT_LOCK = "public.archive_export_lock"


def _claim(conn: psycopg.Connection, entry: PendingExport) -> bool:
    """In the caller's transaction: the export lock, and whether `entry` still waits for its
    export (another run may have taken it meanwhile).

    Raises:
        ArchiveError: another export holds the lock.
    """
    try:
        conn.execute(f"lock table {EXPORT_LOCK} in exclusive mode nowait")
    except psycopg.errors.LockNotAvailable:
        raise ArchiveError(
            "another archive export is running; try again when it has finished"
        ) from None
    row = conn.execute(
        f"select exported_at is null from {CATALOG} where id = %s", (entry.catalog_id,)
    ).fetchone()
    return bool(row and row[0])


def export_archives(
    conn: psycopg.Connection,
    archive_dir: Path,
    *,
    dry_run: bool = False,
    on_notice: Notice | None = None,
) -> ArchiveReport:
    """Export every archived table not yet exported to `archive_dir`, oldest first.

    Each table is written, read back and verified, then marked exported and dropped; the
    first failure stops the run (the tables before it stay exported). A dry run lists what
    would be exported and where, and changes nothing.

    Args:
        conn: an autocommit connection (each table is committed on its own).
        archive_dir: the folder of the Parquet files (created when missing).
        on_notice: receives progress lines (one per table, and per batch of big tables).

    Returns:
        An ArchiveReport.

    Raises:
        ArchiveError: another export is running, the connection is inside a transaction, or a
            table failed (`ArchiveVerificationError` for a mismatch); its `report` lists the
            tables exported before it.
    """
    if not conn.autocommit:
        raise ArchiveError("archive export needs an autocommit connection (it commits its work)")
    started = time.monotonic()
    pending = tuple(pending_exports(conn))
    if dry_run:
        return ArchiveReport(archive_dir, True, pending, (), elapsed_ms(started, time.monotonic()))
    done: list[ExportResult] = []

    def report() -> ArchiveReport:
        return ArchiveReport(
            archive_dir, False, pending, tuple(done), elapsed_ms(started, time.monotonic())
        )

    for entry in pending:
        try:
            # One transaction per table, holding the export lock: an export that finished
            # meanwhile took its tables, which are skipped.
            with conn.transaction():
                if _claim(conn, entry):
                    done.append(export_one(conn, entry, archive_dir, on_notice))
        except ArchiveError as err:
            err.report = report() if done else None
            raise
        except (psycopg.Error, OSError) as err:
            raise ArchiveError(
                f"{entry.archive_name}: {err}; table kept", report() if done else None
            ) from None
    return report()


@dataclass(frozen=True)
class ArchiveFileProblem:
    """A catalogued export whose file is not what the catalog says."""

    catalog_id: int
    archive_table: str
    path: str | None
    problem: str


def check_archive_files(conn: psycopg.Connection) -> tuple[int, list[ArchiveFileProblem]]:
    """Every exported entry of `archive.archived_partitions` against its file: the file exists,
    is the only entry's, and holds the verified row count (read from the Parquet footer).

    Returns:
        (entries checked, problems); no problem means every catalogued archive is on disk.
    """
    row = conn.execute("select to_regclass(%s)", (CATALOG,)).fetchone()
    if row is None or row[0] is None:
        return 0, []
    entries = conn.execute(
        "select id, archive_schema || '.' || archive_table, export_path, row_count"
        f" from {CATALOG} where exported_at is not null order by id"
    ).fetchall()
    problems: list[ArchiveFileProblem] = []
    owners: dict[str, int] = {}
    for catalog_id, name, path, row_count in entries:
        if not path:
            problems.append(ArchiveFileProblem(catalog_id, name, None, "exported, but no path"))
            continue
        if path in owners:
            problems.append(
                ArchiveFileProblem(
                    catalog_id, name, path, f"the same file as catalog entry {owners[path]}"
                )
            )
            continue
        owners[path] = catalog_id
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except FileNotFoundError:
            problems.append(ArchiveFileProblem(catalog_id, name, path, "file missing"))
            continue
        except (OSError, pa.ArrowException) as err:
            problems.append(ArchiveFileProblem(catalog_id, name, path, f"unreadable: {err}"))
            continue
        if rows != row_count:
            problems.append(
                ArchiveFileProblem(
                    catalog_id, name, path, f"{rows} rows in the file, {row_count} catalogued"
                )
            )
    return len(entries), problems

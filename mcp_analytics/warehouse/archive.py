"""Export archived partitions (schema `archive`) to zstd-compressed Parquet, verify, then drop.

The retention function moves expired partitions/rows into `archive.*` tables and lists them in
`archive.archived_partitions`. Each listed table with `exported_at is null` is written to
`<archive_dir>/<source_table>/<archive_table>.parquet` (via a temporary name, renamed when
complete), read back and compared with the database (row count, and a checksum of a key
column), and only then marked exported and dropped, in one transaction.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

CATALOG = "archive.archived_partitions"
BATCH_ROWS = 50_000
# Preferred columns for the verification checksum, in order: a unique-ish key of the raw tables.
KEY_COLUMNS = ("id", "execution_id", "request_id")


class ArchiveVerificationError(RuntimeError):
    """The Parquet file read back does not match the archived table: nothing was dropped."""


@dataclass(frozen=True)
class ExportResult:
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
class _Column:
    name: str
    pg_type: str  # format_type(), e.g. "numeric(10,2)"
    arrow: pa.DataType
    as_text: bool  # selected as ::text (json, inet, enums, arrays, ...)


def _arrow_type(pg_type: str) -> tuple[pa.DataType, bool]:
    base = pg_type.split("(")[0].strip()
    if base in ("bigint",):
        return pa.int64(), False
    if base in ("integer",):
        return pa.int32(), False
    if base in ("smallint",):
        return pa.int16(), False
    if base in ("boolean",):
        return pa.bool_(), False
    if base in ("double precision", "real"):
        return pa.float64(), False
    if base == "numeric" and "(" in pg_type:
        precision, scale = (int(x) for x in pg_type.split("(")[1].rstrip(")").split(","))
        return pa.decimal128(precision, scale), False
    if base == "timestamp with time zone":
        return pa.timestamp("us", tz="UTC"), False
    if base == "timestamp without time zone":
        return pa.timestamp("us"), False
    if base == "date":
        return pa.date32(), False
    if base in ("text", "character varying", "character"):
        return pa.string(), False
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
    # md5 of the key column's text values sorted bytewise (collate "C" = Python's str order).
    count, digest = conn.execute(
        sql.SQL(
            "select count(*), md5(coalesce(string_agg({c}::text, ',' order by {c}::text"
            " collate \"C\"), '')) from {t} where {c} is not null"
        ).format(c=sql.Identifier(column), t=sql.Identifier(schema, table))
    ).fetchone()
    total = conn.execute(
        sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
    ).fetchone()[0]
    return total, digest if count else hashlib.md5(b"").hexdigest()


def _file_checksum(path: Path, column: str) -> tuple[int, str]:
    table = pq.read_table(path)
    values = [str(v) for v in table.column(column).to_pylist() if v is not None]
    values.sort()
    return table.num_rows, hashlib.md5(",".join(values).encode()).hexdigest()


def _write_parquet(
    conn: psycopg.Connection, schema: str, table: str, columns: list[_Column], path: Path
) -> None:
    arrow_schema = pa.schema([pa.field(c.name, c.arrow) for c in columns])
    select_list = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c.name)) if c.as_text else sql.Identifier(c.name)
        for c in columns
    )
    query = sql.SQL("select {} from {}").format(select_list, sql.Identifier(schema, table))
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


def pending_exports(conn: psycopg.Connection) -> list[tuple]:
    if conn.execute("select to_regclass(%s)", (CATALOG,)).fetchone()[0] is None:
        return []
    return conn.execute(
        "select id, source_schema, source_table, archive_schema, archive_table, row_count"
        f" from {CATALOG} where exported_at is null order by id"
    ).fetchall()


def export_one(conn: psycopg.Connection, entry: tuple, archive_dir: Path) -> ExportResult:
    started = time.monotonic()
    catalog_id, source_schema, source_table, archive_schema, archive_table, row_count = entry
    folder = (
        source_table if source_schema in (None, "public") else f"{source_schema}.{source_table}"
    )
    path = archive_dir / folder / f"{archive_table}.parquet"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    columns = _columns(conn, archive_schema, archive_table)
    key = _checksum_column(columns)
    db_rows, db_sum = _db_checksum(conn, archive_schema, archive_table, key.name)
    if row_count is not None and db_rows != row_count:
        raise ArchiveVerificationError(
            f"{archive_schema}.{archive_table} holds {db_rows} rows, the catalog says {row_count}"
        )
    partial = path.with_suffix(".parquet.partial")
    _write_parquet(conn, archive_schema, archive_table, columns, partial)
    file_rows, file_sum = _file_checksum(partial, key.name)
    if (file_rows, file_sum) != (db_rows, db_sum):
        partial.unlink(missing_ok=True)
        raise ArchiveVerificationError(
            f"{archive_schema}.{archive_table}: Parquet has {file_rows} rows (checksum {file_sum}),"
            f" the table {db_rows} rows (checksum {db_sum}); table kept"
        )
    partial.replace(path)
    with conn.transaction():
        conn.execute(
            f"update {CATALOG} set exported_at = now(), export_path = %s where id = %s",
            (str(path), catalog_id),
        )
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(archive_schema, archive_table)))
    return ExportResult(
        catalog_id=catalog_id,
        source_table=source_table,
        archive_table=f"{archive_schema}.{archive_table}",
        path=path,
        rows=db_rows,
        bytes=path.stat().st_size,
        checksum_column=key.name,
        checksum=db_sum,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def export_pending(conn: psycopg.Connection, archive_dir: Path) -> list[ExportResult]:
    """Export every archived table not yet exported; stops at the first verification failure."""
    return [export_one(conn, entry, archive_dir) for entry in pending_exports(conn)]

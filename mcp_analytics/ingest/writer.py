"""The one write path of telemetry: COPY into a temporary staging table, then insert with
`on conflict do nothing` on each table's idempotency key.

Both the collector and the bulk loader write through `write_batch`, so a batch that is written
twice (a retry after a timeout, a spool replayed after a crash, a file loaded again) adds no
duplicate row. Rows that PostgreSQL refuses (a foreign key, a value the Python checks let
through) are isolated by bisection and returned as rejects instead of failing the batch;
connection problems propagate so that the caller can retry or spool.

Privileges this needs (the `ingest` role): INSERT on the four raw tables and `ingest_rejects`,
USAGE on their id sequences, TEMPORARY on the database (for the staging tables). No SELECT on
any raw table: `on conflict do nothing` needs none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg._copy_base import format_row_text  # C formatter that copy.write_row uses
from psycopg.adapt import Transformer

from mcp_analytics.ingest.events import TABLES, row_to_json

log = logging.getLogger(__name__)

# The unique key each table is deduplicated on (documentation and tests; the insert itself is
# target-less, see `_insert_chunk`).
UNIQUE_KEYS = {
    "tool_usage_logs": "idx_tool_usage_execution_id",
    "mcp_request_logs": "mcp_request_logs_request_id_key",
    "performance_metrics": "idx_performance_metrics_unique",
    # bootstrap_sql/030_ingest.sql: error_logs has no natural key, so an event key of its own.
    "error_logs": "idx_error_logs_event_key",
}

#: What each table's dedup key is made of (conflict reasons; docs/ingest.md).
CONFLICT_KEYS = {
    "tool_usage_logs": "execution_id and timestamp",
    "mcp_request_logs": "request_id and timestamp",
    "performance_metrics": (
        "metric_name, aggregation_period, timestamp, labels, service and environment"
    ),
    "error_logs": (
        "timestamp, level, message, request_id, execution_id, session_id, environment,"
        " service_version and deployment_id"
    ),
}

# SQLSTATE classes that are about a row's data, not the connection or the schema.
_ROW_ERROR_CLASSES = ("22", "23")

#: SQLSTATEs on which a whole batch is written again: serialization failure and deadlock
#: (PostgreSQL rolled the transaction back; two writers of the same keys can meet so).
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
#: attempts per batch, and the backoff between them (doubling, jittered to 50-100 %).
MAX_ATTEMPTS = 8
RETRY_BACKOFF_S = (0.05, 2.0)


@dataclass(frozen=True)
class Reject:
    """A row refused by PostgreSQL: `index` into the rows given for its table."""

    table: str
    index: int
    reason: str
    #: PostgreSQL's SQLSTATE when the server refused it (None: refused before COPY).
    sqlstate: str | None = None


@dataclass(frozen=True)
class RejectRecord:
    """One line of `ingest_rejects`."""

    source: str  # 'loader' | 'collector'
    reason: str
    raw: str  # redacted
    source_name: str | None = None
    line_number: int | None = None
    target_table: str | None = None

    @property
    def key(self) -> str:
        # Same reject recorded twice (a retried batch) -> one row.
        parts = [self.source, self.source_name or "", str(self.line_number or ""), self.raw]
        return hashlib.md5("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()


@dataclass
class WriteResult:
    inserted: dict[str, int] = field(default_factory=dict)
    #: rows whose key a stored row with the same values already had (a retry, a reload).
    duplicates: dict[str, int] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    #: times the batch was written again after a deadlock or serialization failure.
    retries: int = 0
    #: per table, rows stored with user_id null because no `users` row had their user_id
    #: (kept in unmatched_user_id).
    unmatched_user_ids: dict[str, int] = field(default_factory=dict)
    #: rows whose key a stored row with other values already had: recorded, not stored.
    conflicts: list[Reject] = field(default_factory=list)

    @property
    def total_inserted(self) -> int:
        return sum(self.inserted.values())

    @property
    def total_duplicates(self) -> int:
        return sum(self.duplicates.values())

    @property
    def total_conflicts(self) -> int:
        return len(self.conflicts)


def is_row_error(err: BaseException) -> bool:
    """True when `err` is about the data of some row (so isolating the row makes sense)."""
    state = getattr(err, "sqlstate", None) or ""
    return isinstance(err, psycopg.Error) and state[:2] in _ROW_ERROR_CLASSES


def _sanitise(row: Mapping[str, Any]) -> dict[str, Any]:
    """Lone surrogates (from JSON "\\ud800") cannot be UTF-8: replaced, not a failed batch."""
    return {
        k: (v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v)
        for k, v in row.items()
    }


_NAMES = {t: tuple(c.name for c in cols) for t, cols in TABLES.items()}
_TRANSFORMER: Any = None


def format_copy_row(table: str, row: Mapping[str, Any]) -> bytes:
    """One prepared row as a line of COPY text, formatted by psycopg (in C) exactly as
    `copy.write_row` would; lone surrogates become "?" as `_sanitise` does."""
    global _TRANSFORMER
    if _TRANSFORMER is None:
        _TRANSFORMER = Transformer()
    values = [row.get(n) for n in _NAMES[table]]
    out = bytearray()
    try:
        format_row_text(values, _TRANSFORMER, out)
    except UnicodeEncodeError:
        out = bytearray()
        values = [
            v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v
            for v in values
        ]
        format_row_text(values, _TRANSFORMER, out)
    return bytes(out)


def _compile_line_formatter(table: str) -> Any:
    """Per table, a function that renders a prepared row as one COPY text line, or returns
    None when it cannot be sure (then `format_copy_row` does it). Generated once: every value
    is already a str (text, jsonb, numeric, inet, enum), an int, a bool, a datetime or None,
    so the line is one join with NUL standing for NULL, then backslashes doubled and NUL made
    `\\N`. It is kept only when it holds exactly one NUL per NULL, the tabs between its
    columns, no line break and none of the other characters psycopg escapes (backspace,
    vertical tab, form feed): then its bytes are psycopg's."""
    parts = []
    for i, col in enumerate(TABLES[table]):
        v = f"vals[{i}]"
        if col.kind == "bool":
            parts.append(f'("\\x00" if {v} is None else ("t" if {v} else "f"))')
        elif col.kind == "int":
            parts.append(f'("\\x00" if {v} is None else str({v}))')
        elif col.kind == "timestamptz":
            parts.append(f'("\\x00" if {v} is None else {v}.isoformat())')
        else:
            parts.append(f'("\\x00" if {v} is None else {v})')
    keys = ", ".join(f"row[{c.name!r}]" for c in TABLES[table])
    src = (
        "def line(row):\n"
        f"    vals = [{keys}]\n"
        f"    text = '\\t'.join([{', '.join(parts)}])\n"
        "    if (text.count('\\x00') != vals.count(None) or '\\n' in text or '\\r' in text\n"
        "            or '\\x08' in text or '\\x0b' in text or '\\x0c' in text\n"
        f"            or text.count('\\t') != {len(parts) - 1}):\n"
        "        return None\n"
        "    return text.replace('\\\\', '\\\\\\\\').replace('\\x00', '\\\\N') + '\\n'\n"
    )
    env: dict[str, Any] = {}
    exec(compile(src, f"<COPY line of {table}>", "exec"), env)  # noqa: S102 - our own text
    return env["line"]


_LINE_FORMATTERS = {table: _compile_line_formatter(table) for table in TABLES}


def copy_text_line(table: str, row: Mapping[str, Any]) -> str:
    """A prepared row (every column, as `events.prepare` returns it) as a COPY text line."""
    try:
        line = _LINE_FORMATTERS[table](row)
    except (TypeError, AttributeError, KeyError):
        # A value of another type (psycopg knows them all), or a column missing: a row
        # spooled before the column was added, written as null like `copy.write_row` did.
        line = None
    if line is None:
        line = format_copy_row(table, row).decode("utf-8", "surrogatepass")
    return line


def lock_order_key(table: str, row: Mapping[str, Any]) -> tuple[str, str]:
    """Where a prepared row goes in a batch: (event time as ISO text, its COPY text line).

    Rows are written in this order, so two writers of the same rows (two loaders of one file
    in opposite orders, a loader and a spool replay) take the rows' unique-index entries in
    the same order and cannot wait for each other in a cycle (a deadlock). Time first keeps
    the indexes on time written in order; the line breaks ties deterministically."""
    ts = row.get("timestamp")
    if ts is None:
        return "", copy_text_line(table, row)
    return (ts if type(ts) is str else ts.isoformat()), copy_text_line(table, row)


def copy_lines_in_lock_order(
    table: str, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[int]]:
    """Prepared rows as COPY text lines sorted by `lock_order_key`, and for each line the
    index of its row in `rows`."""
    keyed = sorted((*lock_order_key(table, row), i) for i, row in enumerate(rows))
    return [k[1] for k in keyed], [k[2] for k in keyed]


class CopyLines(Sequence[bytes]):
    """Rows given as one buffer of COPY text lines (UTF-8, each ending in a newline), as the
    loader's preparing processes make them: written as they are, split into lines only when
    a refused row has to be found by bisection (a line's newlines are escaped, so splitting
    at b"\n" gives the rows back)."""

    __slots__ = ("data", "_count", "_lines", "refs")

    def __init__(
        self, data: bytes, count: int, refs: Mapping[str, Sequence[int | None]] | None = None
    ) -> None:
        self.data = data
        self._count = count
        self._lines: list[bytes] | None = None
        #: per column of `USER_REFS`, its value in each row (in row order), so the writer
        #: can check user ids without parsing the text; None when the producer gave none.
        self.refs = refs

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if self._lines is None:
            self._lines = [line + b"\n" for line in self.data.split(b"\n")[:-1]]
            if len(self._lines) != self._count:
                raise ValueError(f"{self._count} rows announced, {len(self._lines)} in the text")
        return self._lines[index]


#: columns that reference users(id): checked before COPY (a refused row costs round trips).
USER_REFS = {
    "tool_usage_logs": ("user_id",),
    "mcp_request_logs": ("user_id",),
    "error_logs": ("user_id", "resolved_by"),
}
_FOREIGN_KEY_VIOLATION = "23503"


class KnownUsers:
    """The ids of `users` rows seen so far: a cache a writer keeps across batches, refreshed
    on a miss (one query per batch that holds ids it has not seen, through the function
    `ingest_known_user_ids`, bootstrap 067). Up to `max_ids` ids; then it starts afresh."""

    def __init__(self, max_ids: int = 1_000_000) -> None:
        self.max_ids = max_ids
        self._ids: set[int] = set()
        #: False on a database without the function (older bootstrap): nothing is checked.
        self.available = True

    def unknown(self, conn: psycopg.Connection, ids: set[int]) -> set[int]:
        """The ids of `ids` that no `users` row has (one query when some are not cached)."""
        missing = ids - self._ids
        if not missing or not self.available:
            return set()
        try:
            found = {
                row[0]
                for row in conn.execute(
                    "select id from ingest_known_user_ids(%s) as id", (sorted(missing),)
                )
            }
        except psycopg.errors.UndefinedFunction:
            self.available = False
            return set()
        if len(self._ids) + len(found) > self.max_ids:
            self._ids.clear()
        self._ids |= found
        return missing - found

    def forget(self) -> None:
        """Drop the cache (a cached user was deleted: a foreign key refused a row)."""
        self._ids.clear()


@dataclass
class _Resolved:
    """A table's rows after the user check: what to write, the caller's index of each row
    written (None: the same rows), rows refused before COPY, rows whose user_id was moved."""

    rows: Sequence[Any]
    keep: list[int] | None = None
    rejects: list[Reject] = field(default_factory=list)
    unmatched: int = 0


def _user_refs(table: str, rows: Sequence[Any]) -> dict[str, Sequence[int | None]] | None:
    """Per column of `USER_REFS`, its value in each row; None when they cannot be known
    without parsing (text lines) or the table has none."""
    cols = USER_REFS.get(table)
    if not cols:
        return None
    if type(rows) is CopyLines:
        if rows.refs is None:
            return None
        return {c: rows.refs.get(c) or [None] * len(rows) for c in cols}
    if isinstance(rows[0], str | bytes):
        return None
    return {c: [r.get(c) for r in rows] for c in cols}


def _resolve_users(
    conn: psycopg.Connection, table: str, rows: Sequence[Any], users: KnownUsers
) -> _Resolved:
    """Check the user references of `rows` against `users` before COPY. An unknown user_id
    is moved to unmatched_user_id (user_id null: the row is stored, see docs/ingest.md); an
    unknown resolved_by is a reject. Prepared dicts and `CopyLines` with `refs` are checked;
    other text lines are left to the foreign key (and bisection)."""
    values = _user_refs(table, rows)
    ids = {v for column in (values or {}).values() for v in column if v is not None}
    if not ids:
        return _Resolved(rows)
    assert values is not None
    unknown = users.unknown(conn, ids)
    if not unknown:
        return _Resolved(rows)
    names = _NAMES[table]
    at_user, at_unmatched = names.index("user_id"), names.index("unmatched_user_id")
    out = _Resolved([], keep=[])
    user_ids, resolved_by = values["user_id"], values.get("resolved_by")
    for i, row in enumerate(rows):
        if resolved_by is not None and resolved_by[i] in unknown:
            out.rejects.append(
                Reject(table, i, f"resolved_by: no user with id {resolved_by[i]} (users)")
            )
            continue
        uid = user_ids[i]
        if uid in unknown:
            out.unmatched += 1
            if isinstance(row, bytes):
                fields = row[:-1].split(b"\t")
                fields[at_user], fields[at_unmatched] = b"\\N", str(uid).encode()
                row = b"\t".join(fields) + b"\n"
            else:
                row = {**row, "user_id": None, "unmatched_user_id": uid}
        out.rows.append(row)  # type: ignore[attr-defined]
        out.keep.append(i)  # type: ignore[union-attr]
    return out


def _copy_rows(copy: Any, names: Sequence[str], rows: Sequence[Any]) -> None:
    """Rows are prepared dicts, COPY text lines (`copy_text_line`) or `CopyLines`; lone surrogates
    in the text become "?" as `_sanitise` does for dicts."""
    if type(rows) is CopyLines:
        view = memoryview(rows.data)
        for i in range(0, len(view), 1 << 20):
            copy.write(view[i : i + (1 << 20)])
        return
    if rows and type(rows[0]) is bytes:
        data = b"".join(rows)
        for i in range(0, len(data), 1 << 20):
            copy.write(data[i : i + (1 << 20)])
        return
    if rows and type(rows[0]) is str:
        data = "".join(rows).encode("utf-8", "replace")
        for i in range(0, len(data), 1 << 20):
            copy.write(data[i : i + (1 << 20)])
        return
    # psycopg formats rows in C; values are None/bool/int/str/datetime, and text COPY
    # lets the server parse str into jsonb, numeric, inet, timestamptz alike.
    write = copy.write_row
    for row in rows:
        write([row.get(n) for n in names])


def _staging_name(table: str) -> str:
    return f"mcpa_stage_{table}"


def _ensure_staging(conn: psycopg.Connection, table: str) -> None:
    """The session's staging table of `table`: its columns, and `mcpa_ord` numbering the rows
    in COPY order (`ingest_staged_conflicts()` names conflicts by it). Created once per
    session, and then readable by mcp_admin: a non-superuser owner of that function reads it
    through that role. One statement per call, as a rolled-back savepoint may have undone the
    creation."""
    name = _staging_name(table)
    cols = ", ".join(f'"{c.name}" {c.pg_type}' for c in TABLES[table])
    # Our own constants only (table and column names, types): no value reaches this text.
    conn.execute(
        f"""do $staging$
        begin
            if to_regclass('pg_temp.{name}') is null then
                create temp table {name} (
                    mcpa_ord bigint generated always as identity, {cols}
                ) on commit delete rows;
                begin
                    grant select on pg_temp.{name} to mcp_admin;
                exception when undefined_object then
                    null;
                end;
            end if;
        end
        $staging$"""
    )


def _copy_direct(conn: psycopg.Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """COPY `rows` straight into `table` (fails as a whole on any duplicate key)."""
    names = [c.name for c in TABLES[table]]
    col_list = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("copy {} ({}) from stdin").format(sql.Identifier(table), col_list)
        ) as copy,
    ):
        _copy_rows(copy, names, rows)
    return len(rows)


def _insert_chunk(
    conn: psycopg.Connection, table: str, rows: Sequence[Mapping[str, Any]]
) -> tuple[int, list[tuple[int, list[str] | None]]]:
    """COPY `rows` to staging and insert them; returns the number inserted and the conflicts
    (index in `rows`, differing columns) among those that were not (`_conflicts`)."""
    _ensure_staging(conn, table)
    names = [c.name for c in TABLES[table]]
    stage = sql.Identifier(_staging_name(table))
    col_list = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("copy {} ({}) from stdin").format(stage, col_list)) as copy:
            _copy_rows(copy, names, rows)
        # Target-less: every unique index is an arbiter. The only ones that can collide are the
        # natural keys (ids come from the sequence), and naming a conflict target would need
        # SELECT on its columns, which the ingest role does not have.
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {} on conflict do nothing").format(
                sql.Identifier(table), col_list, col_list, stage
            )
        )
        inserted = cur.rowcount
        conflicts = _conflicts(conn, table) if inserted < len(rows) else []
        cur.execute(sql.SQL("truncate {}").format(stage))
    return inserted, conflicts


def _conflicts(conn: psycopg.Connection, table: str) -> list[tuple[int, list[str] | None]]:
    """Staged rows that were not inserted because a stored row has their key but other values
    (bootstrap_sql/061 `ingest_staged_conflicts()`): (index, differing columns, or None when
    another unique index refused the row). A database without the function (bootstrapped
    before it) answers [] and those rows count as duplicates, as they did."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "select row_index, differing from ingest_staged_conflicts(%s)", (table,)
            ).fetchall()
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InsufficientPrivilege) as err:
        log.warning("conflicts not told from duplicates: %s", err.diag.message_primary or err)
        return []
    return [(int(index), differing) for index, differing in rows]


def conflict_reason(table: str, differing: list[str] | None) -> str:
    """The reject reason of a conflict: what the key is and which values differ."""
    key = CONFLICT_KEYS.get(table, "key")
    if differing is None:
        return f"conflict: another unique index of {table} holds a row with these values"
    return (
        f"conflict: a stored row of {table} has the same {key} but other values"
        f" ({', '.join(differing)}); not stored"
    )


def _write_table(
    conn: psycopg.Connection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    offset: int,
    result: WriteResult,
    direct: bool = False,
) -> None:
    """Insert `rows` in a savepoint; on a row error bisect to find the offending rows.

    With `direct`, first try a plain COPY into the table: when nothing in the chunk is a
    duplicate (a first load, a first write) that costs what plain COPY costs. Any row error
    (a duplicate key among them) rolls the attempt back and the chunk goes through staging.
    """
    conflicts: list[tuple[int, list[str] | None]] = []
    try:
        with conn.transaction():
            if direct:
                inserted = _copy_direct(conn, table, rows)
            else:
                inserted, conflicts = _insert_chunk(conn, table, rows)
    except UnicodeEncodeError:
        rows = [_sanitise(r) if isinstance(r, Mapping) else r for r in rows]
        _write_table(conn, table, rows, offset, result, direct)
        return
    except psycopg.Error as err:
        if not is_row_error(err):
            raise
        if direct:
            _write_table(conn, table, rows, offset, result)
            return
        if len(rows) == 1:
            reason = f"rejected by PostgreSQL: {err.diag.message_primary or err}"
            if err.diag.message_detail:
                reason += f" ({err.diag.message_detail})"
            if len(reason) > 2000:  # a "failing row" detail can carry a whole (redacted) row
                reason = reason[:2000] + "..."
            result.rejects.append(Reject(table, offset, reason, err.sqlstate))
            return
        mid = len(rows) // 2
        _write_table(conn, table, rows[:mid], offset, result)
        _write_table(conn, table, rows[mid:], offset + mid, result)
        return
    result.inserted[table] = result.inserted.get(table, 0) + inserted
    result.duplicates[table] = (
        result.duplicates.get(table, 0) + len(rows) - inserted - len(conflicts)
    )
    result.conflicts += [
        Reject(table, offset + index, conflict_reason(table, differing))
        for index, differing in conflicts
    ]


def write_rejects(conn: psycopg.Connection, records: Iterable[RejectRecord]) -> int:
    """Insert reject records into `ingest_rejects` (idempotent on their key)."""
    params = [
        (r.key, r.source, r.source_name, r.line_number, r.target_table, r.reason, r.raw)
        for r in records
    ]
    params.sort(key=lambda p: p[0])  # in key order, like rows: no lock-order cycles
    if not params:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ingest_rejects (reject_key, source, source_name, line_number,"
            " target_table, reason, raw) values (%s, %s, %s, %s, %s, %s, %s)"
            " on conflict do nothing",
            [tuple(storable_text(v) if isinstance(v, str) else v for v in p) for p in params],
        )
    return len(params)


def storable_text(value: str) -> str:
    """`value` in a form UTF-8 text columns and files take: NUL as U+FFFD, a lone surrogate
    (JSON "\\ud800", a non-UTF-8 file name) as its escape text `\\ud800`, which is also what the
    JSON line said, so a reject stays faithful and writable."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def write_batch(
    conn: psycopg.Connection,
    rows_by_table: Mapping[str, Sequence[Mapping[str, Any]]],
    rejects: Sequence[RejectRecord] = (),
    *,
    reject_source: str = "collector",
    describe: Any = None,
    users: KnownUsers | None = None,
) -> WriteResult:
    """Write prepared rows (see `events.prepare`) of several tables in one transaction.

    Rows PostgreSQL refuses are returned in `result.rejects`, rows whose key a stored row with
    other values holds in `result.conflicts` (reason "conflict: ..."), and both are recorded,
    in the same transaction, in `ingest_rejects` together with `rejects` (records the caller
    already has). Rows identical to a stored row count as `result.duplicates`.
    `describe(table, index) -> RejectRecord fields (dict)` lets the caller say where a refused
    row came from (file, line, raw text); by default the row itself is the raw text.
    Commits on success; on a connection error nothing is committed and the error propagates.

    Tables are written in name order and the rows of each in `lock_order_key` order (prepared
    dicts are sorted here; `CopyLines` come sorted by their producer), so concurrent writers
    of the same rows rarely deadlock; when they do (or a serialization failure), the batch is
    written again, up to `MAX_ATTEMPTS` times with jittered backoff (`result.retries`).

    User references are checked before COPY against `users` (a cache the caller keeps
    across batches; by default one for this call): an unknown user_id is stored as null with
    the id in unmatched_user_id (`result.unmatched_user_ids`), an unknown resolved_by is a
    reject. So a file full of unknown users costs one query per batch, not a bisection.
    """
    if not conn.autocommit:
        # In a non-autocommit session transaction() would only be a savepoint: no commit.
        raise ValueError("write_batch needs an autocommit connection")
    users = users if users is not None else KnownUsers()
    plan, checked, unmatched = _plan(conn, rows_by_table, users)
    delay, retries = RETRY_BACKOFF_S[0], 0
    while True:
        try:
            result = _write_batch_once(
                conn, plan, rows_by_table, rejects, reject_source, describe, checked
            )
        except psycopg.Error as err:
            if getattr(err, "sqlstate", None) not in RETRY_SQLSTATES or retries + 1 >= MAX_ATTEMPTS:
                raise
            retries += 1
            time.sleep(delay * (0.5 + random.random() / 2))  # jittered: writers drift apart
            delay = min(delay * 2, RETRY_BACKOFF_S[1])
            continue
        result.retries = retries
        result.unmatched_user_ids = unmatched
        if any(r.sqlstate == _FOREIGN_KEY_VIOLATION for r in result.rejects):
            users.forget()  # a cached user is gone: check every id again next time
        return result


_Plan = list[tuple[str, Sequence[Any], list[int] | None]]


def _plan(
    conn: psycopg.Connection, rows_by_table: Mapping[str, Sequence[Any]], users: KnownUsers
) -> tuple[_Plan, list[Reject], dict[str, int]]:
    """What each attempt writes: per table (in name order) the rows in lock order and the
    caller's index of each (None: as given); rows refused before COPY; unmatched user ids."""
    plan: _Plan = []
    checked: list[Reject] = []
    unmatched: dict[str, int] = {}
    for table in sorted(rows_by_table):
        rows = rows_by_table[table]
        if not rows:
            continue
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        resolved = _resolve_users(conn, table, rows, users)
        checked += resolved.rejects
        if resolved.unmatched:
            unmatched[table] = resolved.unmatched
        rows, keep = resolved.rows, resolved.keep
        if not rows:
            continue
        if type(rows) is CopyLines or isinstance(rows[0], str | bytes):
            plan.append((table, rows, keep))
        else:
            lines, order = copy_lines_in_lock_order(table, rows)
            plan.append((table, lines, order if keep is None else [keep[j] for j in order]))
    return plan, checked, unmatched


def _write_batch_once(
    conn: psycopg.Connection,
    plan: _Plan,
    rows_by_table: Mapping[str, Sequence[Any]],
    rejects: Sequence[RejectRecord],
    reject_source: str,
    describe: Any,
    checked: Sequence[Reject] = (),
) -> WriteResult:
    """One attempt of `write_batch`: one transaction; reject indexes are the caller's."""
    result = WriteResult(rejects=list(checked))
    with conn.transaction():
        for table, rows, order in plan:
            start, conflicts = len(result.rejects), len(result.conflicts)
            _write_table(conn, table, rows, 0, result, direct=True)
            if order is not None:  # back to the caller's indexes
                result.rejects[start:] = [
                    Reject(r.table, order[r.index], r.reason, r.sqlstate)
                    for r in result.rejects[start:]
                ]
                result.conflicts[conflicts:] = [
                    Reject(r.table, order[r.index], r.reason, r.sqlstate)
                    for r in result.conflicts[conflicts:]
                ]
        records = list(rejects)
        # Conflicts are recorded like rows PostgreSQL refused: nothing sent is lost.
        for rej in [*result.rejects, *result.conflicts]:
            extra = describe(rej.table, rej.index) if describe else None
            if extra is None:
                row = rows_by_table[rej.table][rej.index]
                if isinstance(row, bytes):
                    row = row.decode("utf-8", "replace")
                raw = row if isinstance(row, str) else json.dumps(row_to_json(row), default=str)
                extra = {"raw": raw}
            records.append(
                RejectRecord(
                    source=reject_source, reason=rej.reason, target_table=rej.table, **extra
                )
            )
        write_rejects(conn, records)
    return result

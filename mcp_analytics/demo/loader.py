"""Load a seeded demo workload fast (the partition loader behind `mcp-analytics demo`).

Loading plan, chosen for speed on a small machine (COPY into a table with the seed's indexes
runs ~6x slower than into a bare table):

1. bootstrap, demo users, the monthly partitions the span needs;
2. per month and per partitioned table, COPY the generated rows into a bare table
   (`like <parent>`, no indexes, created in the same transaction, so COPY FREEZE applies);
3. build the parent's indexes on it in bulk, then swap it in: the (still empty) monthly
   partition is dropped and the loaded table attached in its place, in one short transaction.
   A month whose partition already holds rows is merged row by row instead
   (`insert ... on conflict do nothing`), which is slower but never touches existing data;
4. sessions, error logs, per-minute metrics (computed from the loaded calls);
5. last, the late rows (calls of the last three days held back), through the parents, and the
   tool inventory the BCPs advertised at the start, at each release and at the end (through
   mcp_record_inventory, as the scheduled snapshots store it; only into a database holding no
   snapshot of these servers yet: snapshots are stored in time order).

A batch is identified by its parameters (seed, span, volume): loading the same batch again is
skipped; a database that already holds another demo batch is left alone unless `--append`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

from mcp_analytics.analytics.inventory import store
from mcp_analytics.config import settings
from mcp_analytics.demo.workload import (
    CATALOGUE,
    ERROR_ROW,
    METRIC_ROW,
    REQUEST_ROW,
    SESSION_ROW,
    TOOL_ROW,
    Batch,
    Generator,
    WorkloadSpec,
    advertised_inventory,
    inventory_snapshots,
)
from mcp_analytics.warehouse import db
from mcp_analytics.warehouse.bootstrap import bootstrap
from mcp_analytics.warehouse.partitions import upkeep_partitions
from mcp_analytics.warehouse.tables import raw_table_names

MARKER_KEY = "demo.batches"
PARTITIONED = {
    "tool": ("tool_usage_logs", TOOL_ROW.columns),
    "request": ("mcp_request_logs", REQUEST_ROW.columns),
}
FLUSH_LINES = 20_000
MINUTE_METRIC_DAYS = 7  # lines buffered per stream before they are handed to COPY
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class DemoError(ValueError):
    """The workload cannot be loaded as asked (e.g. a span too far in the past)."""


# --------------------------------------------------------------------------- result


@dataclass
class DemoResult:
    tag: str
    skipped: str | None = None
    seconds: float = 0.0
    loaded: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    fast_months: list[str] = field(default_factory=list)
    merged_months: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = []
        if self.skipped:
            lines.append(f"demo batch {self.tag}: skipped ({self.skipped})")
        else:
            loaded = ", ".join(f"{k} {v:,}" for k, v in self.loaded.items())
            lines.append(f"demo batch {self.tag} loaded in {self.seconds:.1f} s: {loaded}")
        lines.append("database now holds:")
        for table, count in self.table_rows.items():
            lines.append(f"  {table:<22} {count:>12,}")
        if self.first and self.last:
            lines.append(
                f"  tool calls from {self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M} UTC"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- load


def load(
    url: str,
    spec: WorkloadSpec,
    *,
    append: bool = False,
    say=lambda _msg: None,
) -> DemoResult:
    """Load `spec` into the database at `url` (bootstrapping it first)."""
    started = time.perf_counter()
    result = DemoResult(tag=spec.tag)
    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap(conn, settings().bootstrap_dir)
        skip = _skip_reason(conn, spec, append)
        if skip:
            result.skipped = skip
            _summarise(conn, result)
            return result
        _ensure_partitions(conn, spec)
        user_ids, admin_id = _ensure_users(conn, spec.users)

    gen = Generator(spec, user_ids, admin_id)
    loader = _MonthLoader(url, say)
    say(
        f"demo batch {spec.tag}: {spec.tool_calls:,} tool calls, {spec.start:%Y-%m-%d %H:%M} to "
        f"{spec.end:%Y-%m-%d %H:%M} UTC, seed {spec.seed}"
    )
    out: dict[str, Batch] = {}
    step = max(1, spec.tool_calls // 10)
    next_report = step
    try:
        for day in gen.days():
            gen.generate_day(day, out)
            loader.write(out)
            # Months that can no longer receive rows (sessions end within a day) are finished.
            horizon = gen.day_month[max(0, day - 1)]
            loader.finish_before(out, horizon)
            if gen.totals.tool_calls >= next_report:
                say(
                    f"  generated {gen.totals.tool_calls:>10,} tool calls "
                    f"({time.perf_counter() - started:5.1f} s)"
                )
                next_report += step
        loader.write(out, final=True)
        loader.finish_before(out, None)
        # Sessions and errors go in while the last months are indexed in the background.
        with psycopg.connect(url, autocommit=True) as conn:
            gen.login_failures()
            say(f"  sessions, errors and metrics ({time.perf_counter() - started:5.1f} s)")
            _copy_into(conn, "sessions", SESSION_ROW.columns, gen.sessions, conflict=True)
            _copy_into(conn, "error_logs", ERROR_ROW.columns, gen.errors, conflict=False)
            metric_lines = gen.metrics()
            _copy_into(conn, "performance_metrics", METRIC_ROW.columns, metric_lines, conflict=True)
        loader.join()
    finally:
        loader.close()
    result.fast_months, result.merged_months = loader.fast, loader.merged

    with psycopg.connect(url, autocommit=True) as conn:
        say(f"  late rows ({time.perf_counter() - started:5.1f} s)")
        # Late rows arrive after everything else: the last ids, timestamps hours to days old.
        _copy_into(conn, "tool_usage_logs", TOOL_ROW.columns, gen.late_tool, conflict=True)
        _copy_into(conn, "mcp_request_logs", REQUEST_ROW.columns, gen.late_request, conflict=True)
        snapshots = _store_inventory(conn, spec)
        _remember(conn, spec, gen)
        result.loaded = {
            "tool calls": gen.totals.tool_calls,
            "requests": gen.totals.requests,
            "errors": gen.totals.errors,
            "sessions": gen.totals.sessions,
            "metrics": len(metric_lines),
            "late tool calls": gen.totals.late_tool_calls,
            "inventory snapshots": snapshots,
        }
        result.seconds = time.perf_counter() - started
        _summarise(conn, result)
    return result


def _store_inventory(conn: psycopg.Connection, spec: WorkloadSpec) -> int:
    """Store what the BCPs advertised over the span (workload.inventory_snapshots), unless
    the database already holds snapshots of them; returns the snapshots stored."""
    names = [b.name for b in CATALOGUE]
    known = "select count(*) from mcp_inventory_snapshots where bcp_name = any(%s)"
    if db.scalar(conn, known, (names,)):
        return 0
    taken = inventory_snapshots(spec)
    for b, v, taken_at in taken:
        inventory = advertised_inventory(b, v)
        endpoint = f"https://{inventory.bcp_name}.mcp.example.invalid/mcp"
        store(conn, inventory, source="schedule", endpoint=endpoint, taken_at=taken_at)
    return len(taken)


def _skip_reason(conn: psycopg.Connection, spec: WorkloadSpec, append: bool) -> str | None:
    batches = _batches(conn)
    if any(b.get("tag") == spec.tag for b in batches):
        return "this batch (same seed, span and volume) is already loaded"
    if batches and not append:
        tags = ", ".join(b.get("tag", "?") for b in batches)
        return f"the database already holds demo batch(es) {tags}; pass --append to add another"
    return None


def _batches(conn: psycopg.Connection) -> list[dict]:
    row = conn.execute(
        "select config_value from system_configuration where config_key = %s", (MARKER_KEY,)
    ).fetchone()
    return list(row[0]) if row and isinstance(row[0], list) else []


def _remember(conn: psycopg.Connection, spec: WorkloadSpec, gen: Generator) -> None:
    entry = {
        "tag": spec.tag,
        "seed": spec.seed,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "tool_calls": spec.tool_calls,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "totals": asdict(gen.totals),
    }
    conn.execute(
        """
        insert into system_configuration (config_key, config_value, description, config_type)
        values (%s, %s, 'Demo workload batches loaded by mcp-analytics demo', 'demo')
        on conflict (config_key) do update
        set config_value = system_configuration.config_value || excluded.config_value,
            updated_at = now()
        """,
        (MARKER_KEY, Jsonb([entry])),
    )


def _months_between(a: datetime, b: datetime) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def _ensure_partitions(conn: psycopg.Connection, spec: WorkloadSpec) -> None:
    now = datetime.now(UTC)
    # A day of margin before the start: the first requests precede their calls by milliseconds.
    behind = max(0, _months_between(spec.start - timedelta(days=1), now))
    if behind > 120:
        raise DemoError("the span starts more than 10 years ago; choose a later --end")
    upkeep_partitions(conn, months_ahead=3, months_behind=behind)


def _placeholder_hash() -> str:
    """bcrypt-shaped, random: no password is known to match it, so demo users cannot log in."""
    pick = secrets.choice
    salt = "".join(pick(_BCRYPT_ALPHABET) for _ in range(21)) + "."
    digest = "".join(pick(_BCRYPT_ALPHABET) for _ in range(30)) + "."
    return f"$2b$12${salt}{digest}"


def _ensure_users(conn: psycopg.Connection, n: int) -> tuple[list[int], int]:
    names = [f"demo_user_{i:04d}" for i in range(1, n + 1)]
    rows = [
        (name, _placeholder_hash(), f"{name}@example.invalid", "READ_ONLY", "Demo", f"User {i}")
        for i, name in enumerate(names, 1)
    ]
    rows.append(
        (
            "demo_oncall",
            _placeholder_hash(),
            "demo_oncall@example.invalid",
            "ADMIN",
            "Demo",
            "On-call",
        )
    )
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into users (username, password_hash, email, role, first_name, last_name)
            values (%s, %s, %s, %s::user_role_enum, %s, %s)
            on conflict (username) do nothing
            """,
            rows,
        )
    found: dict[str, int] = dict(
        conn.execute(
            "select username, id from users where username = any(%s)", (names + ["demo_oncall"],)
        ).fetchall()
    )
    return [found[name] for name in names], found["demo_oncall"]


def _copy_into(
    conn: psycopg.Connection,
    table: str,
    columns: tuple[str, ...],
    lines: list[str],
    *,
    conflict: bool,
) -> None:
    if not lines:
        return
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    with conn.transaction():
        if conflict:
            # Through a temporary table so a rerun (or a key already there) is not an error.
            conn.execute(
                sql.SQL(
                    "create temporary table demo_tmp (like {} including defaults) on commit drop"
                ).format(sql.Identifier(table))
            )
            target = sql.Identifier("demo_tmp")
        else:
            target = sql.Identifier(table)
        with conn.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(target, cols)) as copy:
            for i in range(0, len(lines), FLUSH_LINES):
                copy.write("".join(lines[i : i + FLUSH_LINES]))
        if conflict:
            conn.execute(
                sql.SQL(
                    "insert into {} ({}) select {} from demo_tmp on conflict do nothing"
                ).format(sql.Identifier(table), cols, cols)
            )


def _summarise(conn: psycopg.Connection, result: DemoResult) -> None:
    for table in raw_table_names("telemetry") + raw_table_names("auth"):
        count = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        result.table_rows[table] = db.scalar(conn, count)
    first, last = db.fetch_one(
        conn, 'select min("timestamp"), max("timestamp") from tool_usage_logs'
    )
    result.first, result.last = first, last


# --------------------------------------------------------------------------- month loader


class _Stream:
    """An open COPY into the bare table of one (table, month)."""

    def __init__(self, url: str, parent: str, columns: tuple[str, ...], month: str) -> None:
        self.parent = parent
        self.month = month
        self.partition = f"{parent}_{month.replace('-', '_')}"
        self.staging = f"demo_load_{self.partition}"
        lo = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        hi = (lo + timedelta(days=32)).replace(day=1)
        self.bounds = (lo, hi)
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("set maintenance_work_mem = '256MB'")
        ident = sql.Identifier(self.staging)
        # Created outside the COPY's transaction: `like` locks the parent, and a lock held for
        # the whole COPY would block the swap of the previous month.
        self.conn.execute(sql.SQL("drop table if exists {}").format(ident))
        self.conn.execute(
            sql.SQL("create table {} (like {} including defaults including constraints)").format(
                ident, sql.Identifier(parent)
            )
        )
        self.conn.autocommit = False
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        self.columns = cols
        # FREEZE (allowed after a truncate in the same transaction): rows are written frozen,
        # so the new partition needs no vacuum pass to become all-visible.
        self.conn.execute(sql.SQL("truncate {}").format(ident))
        cursor = self.conn.cursor()
        # A queued writer sends from its own thread: `write` returns at once, so generation
        # goes on while both tables' server processes parse their COPY on the other core.
        self._cm = cursor.copy(
            sql.SQL("copy {} ({}) from stdin with (freeze)").format(ident, cols),
            writer=QueuedLibpqWriter(cursor),
        )
        self.copy = self._cm.__enter__()
        self.rows = 0

    def write(self, lines: list[str]) -> None:
        self.copy.write("".join(lines))
        self.rows += len(lines)

    def end_copy(self) -> None:
        self._cm.__exit__(None, None, None)
        self.conn.commit()


class _MonthLoader:
    """Keeps one COPY stream per (table, month); finished months are indexed and swapped in
    by a background thread while generation goes on."""

    def __init__(self, url: str, say) -> None:
        self.url = url
        self.say = say
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.fast: list[str] = []
        self.merged: list[str] = []
        self._lock = threading.Lock()

    def write(self, out: dict[str, Batch], final: bool = False) -> None:
        for month, batch in out.items():
            for kind, lines in (("tool", batch.tool), ("request", batch.request)):
                if lines and (final or len(lines) >= FLUSH_LINES):
                    self._stream(kind, month).write(lines)
                    lines.clear()

    def _stream(self, kind: str, month: str) -> _Stream:
        key = (kind, month)
        stream = self.streams.get(key)
        if stream is None:
            parent, columns = PARTITIONED[kind]
            stream = self.streams[key] = _Stream(self.url, parent, columns, month)
        return stream

    def finish_before(self, out: dict[str, Batch], month: str | None) -> None:
        """Finish every stream of a month earlier than `month` (all when None)."""
        self._raise()
        for done in [m for m in out if month is None or m < month]:
            self.write({done: out.pop(done)}, final=True)
        for key in [k for k in self.streams if month is None or k[1] < month]:
            stream = self.streams.pop(key)
            stream.end_copy()
            thread = threading.Thread(target=self._finish, args=(stream,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _finish(self, stream: _Stream) -> None:
        try:
            began = time.perf_counter()
            mode = _swap_in(stream)
            with self._lock:
                (self.fast if mode == "attached" else self.merged).append(stream.partition)
            self.say(
                f"  {stream.partition}: {stream.rows:,} rows {mode} "
                f"(indexes and swap {time.perf_counter() - began:.1f} s)"
            )
        except BaseException as err:  # noqa: BLE001 - re-raised in the main thread
            self.errors.append(err)
        finally:
            stream.conn.close()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        for stream in self.streams.values():
            stream.conn.close()
        for thread in self.threads:
            thread.join()


_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ ", re.IGNORECASE)


def _swap_in(stream: _Stream) -> str:
    """Attach the loaded table as the month's partition (fast) or merge its rows (slow)."""
    conn = stream.conn
    part = sql.Identifier(stream.partition)
    staging = sql.Identifier(stream.staging)
    parent = sql.Identifier(stream.parent)
    lo, hi = stream.bounds
    conn.autocommit = True
    if not _partition_empty(conn, stream.partition):
        _merge(conn, stream)
        return "merged into the existing partition"
    # The bounds as a CHECK constraint let ATTACH skip its validation scan.
    conn.execute(
        sql.SQL(
            "alter table {} add constraint demo_bounds"
            ' check ("timestamp" >= {} and "timestamp" < {})'
        ).format(staging, sql.Literal(lo), sql.Literal(hi))
    )
    # The parent's indexes, built in bulk on the loaded table: ATTACH adopts matching ones.
    rows = conn.execute(
        """
        select pg_get_indexdef(i.indexrelid), c.contype, pg_get_constraintdef(c.oid)
        from pg_index as i
        left join pg_constraint as c on c.conindid = i.indexrelid and c.conrelid = i.indrelid
        where i.indrelid = %s::regclass
        order by i.indexrelid
        """,
        (stream.parent,),
    ).fetchall()
    for n, (indexdef, contype, condef) in enumerate(rows):
        if contype in ("p", "u"):
            conn.execute(
                sql.SQL("alter table {} add constraint {} {}").format(
                    staging, sql.Identifier(f"{stream.staging}_c{n}"), sql.SQL(condef)
                )
            )
        else:
            conn.execute(
                _INDEX_DEF.sub(
                    lambda m: f"CREATE {m.group(1) or ''}INDEX ON {stream.staging} ", indexdef
                )
            )
    with conn.transaction():
        # Re-checked under the lock: a writer may have filled the partition meanwhile.
        still_empty = _partition_empty(conn, stream.partition, lock=True)
        if still_empty:
            _attach(conn, parent, staging, part, lo, hi, stream.parent)
    if not still_empty:
        _merge(conn, stream)
        return "merged into the existing partition"
    conn.execute(sql.SQL("analyze {}").format(part))
    return "attached"


def _attach(
    conn: psycopg.Connection,
    parent: sql.Identifier,
    staging: sql.Identifier,
    part: sql.Identifier,
    lo: datetime,
    hi: datetime,
    parent_name: str,
) -> None:
    conn.execute(sql.SQL("drop table if exists {}").format(part))
    conn.execute(
        sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
            parent, staging, sql.Literal(lo), sql.Literal(hi)
        )
    )
    conn.execute(sql.SQL("alter table {} rename to {}").format(staging, part))
    conn.execute(sql.SQL("alter table {} drop constraint demo_bounds").format(part))
    # An attached table fires no insert trigger: tell the dbt marts' late-data ledger which
    # hours changed (bootstrap_sql/012), in the same transaction as the attach.
    ledger = "select to_regprocedure('mart_mark_dirty(text,timestamptz,timestamptz)')"
    if db.scalar(conn, ledger) is not None:
        conn.execute(
            sql.SQL(
                'select mart_mark_dirty(%s, min("timestamp"),'
                " max(\"timestamp\") + interval '1 ms') from {} having count(*) > 0"
            ).format(part),
            (parent_name,),
        )


def _partition_empty(conn: psycopg.Connection, name: str, lock: bool = False) -> bool:
    if db.scalar(conn, "select to_regclass(%s)", (name,)) is None:
        return True
    ident = sql.Identifier(name)
    if lock:
        conn.execute(sql.SQL("lock table {} in access exclusive mode").format(ident))
    return not db.scalar(conn, sql.SQL("select exists (select 1 from {})").format(ident))


def _merge(conn: psycopg.Connection, stream: _Stream) -> None:
    cols = stream.columns
    with conn.transaction():
        conn.execute(
            sql.SQL("insert into {} ({}) select {} from {} on conflict do nothing").format(
                sql.Identifier(stream.parent), cols, cols, sql.Identifier(stream.staging)
            )
        )
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(stream.staging)))

"""The indexes of the raw telemetry tables: what each costs and what uses it, and the index
profiles (`mcp-analytics indexes`).

An index of a partitioned table is an index on the parent plus one per partition; its scans
and size are the sums over the partitions (`pg_stat_user_indexes` counts per partition).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from mcp_analytics.warehouse.notices import Notice
from mcp_analytics.warehouse.tables import raw_table_names

#: The tables whose indexes the profiles manage: the telemetry the collector and loader write.
TELEMETRY_TABLES = raw_table_names("telemetry")

_INDEXES = """
with parents as (
    select i.indexrelid as oid, i.indrelid as table_oid, i.indisunique,
        exists (select from pg_constraint as c where c.conindid = i.indexrelid) as constraint_index
    from pg_index as i
    join pg_class as t on t.oid = i.indrelid
    join pg_namespace as n on n.oid = t.relnamespace
    where n.nspname = 'public' and t.relname = any(%(tables)s) and not t.relispartition
),
members as (
    -- the parent index and, for a partitioned table, each partition's index under it
    select p.oid as parent, p.oid as member from parents as p
    union all
    select p.oid, inh.inhrelid from parents as p
    join pg_inherits as inh on inh.inhparent = p.oid
)
select ic.relname, tc.relname, pg_get_indexdef(p.oid), p.indisunique, p.constraint_index,
    coalesce(sum(pg_relation_size(m.member)), 0)::bigint,
    coalesce(sum(s.idx_scan), 0)::bigint,
    coalesce(sum(s.idx_tup_read), 0)::bigint
from parents as p
join pg_class as ic on ic.oid = p.oid
join pg_class as tc on tc.oid = p.table_oid
join members as m on m.parent = p.oid
left join pg_stat_user_indexes as s on s.indexrelid = m.member
group by ic.relname, tc.relname, p.oid, p.indisunique, p.constraint_index
order by tc.relname, ic.relname
"""


@dataclass(frozen=True)
class IndexUsage:
    """One index of a raw table, summed over its partitions.

    Attributes:
        name: the index on the parent table.
        table: the raw table.
        definition: `pg_get_indexdef()` of the parent's index (CREATE INDEX ... ON ...).
        unique: a unique index.
        constraint: it backs a constraint (primary key, unique): never dropped by a profile.
        bytes: size on disk over every partition.
        scans: index scans started (pg_stat_user_indexes.idx_scan) since the last stats reset.
        tuples_read: index entries those scans returned.
    """

    name: str
    table: str
    definition: str
    unique: bool
    constraint: bool
    bytes: int
    scans: int
    tuples_read: int


def index_usage(
    conn: psycopg.Connection, tables: tuple[str, ...] = TELEMETRY_TABLES
) -> list[IndexUsage]:
    """Every index of `tables` (in schema public), by table then name, with its size and the
    scans counted since the statistics were last reset."""
    rows = conn.execute(_INDEXES, {"tables": list(tables)}).fetchall()
    return [IndexUsage(*r) for r in rows]


#: The documented drill-downs into raw rows (docs/indexes.md): following one call, request or
#: user through the raw tables, and one metric's series. Named parameters: execution_id,
#: request_id, user_id, trace_id, metric_name, since (timestamptz).
DRILL_DOWN_QUERIES: dict[str, str] = {
    "a tool call by its execution id": (
        "select * from tool_usage_logs where execution_id = %(execution_id)s"
    ),
    "the tool calls of a request": (
        "select * from tool_usage_logs where request_id = %(request_id)s"
    ),
    "the HTTP request of a call": (
        "select * from mcp_request_logs where request_id = %(request_id)s"
    ),
    "the tool calls of a trace (OTLP)": (
        "select * from tool_usage_logs where trace_id = %(trace_id)s"
    ),
    "the errors of a request": "select * from error_logs where request_id = %(request_id)s",
    "the errors of a call": "select * from error_logs where execution_id = %(execution_id)s",
    "a user's recent calls": (
        'select * from tool_usage_logs where user_id = %(user_id)s and "timestamp" >= %(since)s'
        ' order by "timestamp" desc limit 200'
    ),
    "a user's recent requests": (
        'select * from mcp_request_logs where user_id = %(user_id)s and "timestamp" >= %(since)s'
        ' order by "timestamp" desc limit 200'
    ),
    "a user's recent errors": (
        'select * from error_logs where user_id = %(user_id)s and "timestamp" >= %(since)s'
        ' order by "timestamp" desc limit 200'
    ),
    "a metric's recent series": (
        'select "timestamp", metric_value, labels from performance_metrics'
        ' where metric_name = %(metric_name)s and "timestamp" >= %(since)s order by "timestamp"'
    ),
}


# --------------------------------------------------------------------------- profiles

#: Index profiles: `full` is the seed's set (what bootstrap creates), `lean` leaves out the
#: indexes nothing in the warehouse uses (docs/indexes.md). The membership of each index lives
#: in the catalogue table bootstrap_sql/095_index_profiles.sql fills.
PROFILES = ("full", "lean")
CATALOG = "public.index_profile_catalog"
_DEFINITION = re.compile(
    r"^CREATE (?P<unique>UNIQUE )?INDEX (?P<name>\S+) ON (?P<only>ONLY )?(?P<table>\S+) "
    r"(?P<rest>USING .*)$",
    re.DOTALL,
)


class IndexProfileError(RuntimeError):
    """A profile could not be applied (the message says why; what was done is kept)."""


@dataclass(frozen=True)
class ProfileIndex:
    """One index the profiles manage: its definition on the parent table (as bootstrap made
    it), whether the lean profile keeps it, and what uses it (the census, docs/indexes.md)."""

    name: str
    table: str
    definition: str
    lean: bool
    used_by: str


@dataclass
class ProfileReport:
    """What `apply_profile` changed: indexes dropped (with the bytes freed) and created (with
    the seconds each took); `describe()` is what the CLI prints."""

    profile: str
    dropped: list[tuple[str, int]] = field(default_factory=list)
    created: list[tuple[str, float]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"dropped {name} ({bytes_ / 2**20:,.1f} MiB)" for name, bytes_ in self.dropped]
        lines += [f"created {name} ({secs:.1f} s)" for name, secs in self.created]
        if not self.dropped and not self.created:
            lines.append(f"already at profile {self.profile}: nothing to do")
        freed = sum(b for _, b in self.dropped) / 2**20
        lines.append(
            f"profile {self.profile}: {len(self.dropped)} dropped ({freed:,.1f} MiB freed), "
            f"{len(self.created)} created, {len(self.unchanged)} unchanged "
            f"in {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def catalog(conn: psycopg.Connection) -> list[ProfileIndex]:
    """The indexes the profiles manage, by table and name.

    Raises:
        IndexProfileError: the catalogue is missing (the database was not bootstrapped).
    """
    exists = conn.execute("select to_regclass(%s) is not null", (CATALOG,)).fetchone()
    if not exists or not exists[0]:
        raise IndexProfileError(f"{CATALOG} does not exist: run `mcp-analytics bootstrap` first")
    rows = conn.execute(
        f"select index_name, table_name, definition, lean, used_by from {CATALOG}"
        " order by table_name, index_name"
    ).fetchall()
    return [ProfileIndex(*r) for r in rows]


def _index_oid(conn: psycopg.Connection, name: str) -> int | None:
    row = conn.execute("select to_regclass(%s)::oid", (f"public.{name}",)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _complete(conn: psycopg.Connection, entry: ProfileIndex) -> bool:
    """The index exists on the parent and, for a partitioned table, on every partition."""
    oid = _index_oid(conn, entry.name)
    if oid is None:
        return False
    row = conn.execute(
        "select count(*) filter (where not exists (select from pg_inherits as ii"
        " join pg_index as x on x.indexrelid = ii.inhrelid"
        " where ii.inhparent = %s and x.indrelid = p.inhrelid))"
        " from pg_inherits as p where p.inhparent = %s::regclass",
        (oid, f"public.{entry.table}"),
    ).fetchone()
    valid = conn.execute("select indisvalid from pg_index where indexrelid = %s", (oid,)).fetchone()
    return bool(row is not None and row[0] == 0 and valid and valid[0])


def current_profile(conn: psycopg.Connection) -> str:
    """`full` when every catalogued index is complete (on the parent and every partition,
    valid), `lean` when exactly the lean ones are and the others are absent, `custom`
    otherwise (an interrupted switch, or indexes changed by hand)."""
    entries = catalog(conn)
    if all(_complete(conn, e) for e in entries):
        return "full"
    lean = all(_complete(conn, e) if e.lean else _index_oid(conn, e.name) is None for e in entries)
    return "lean" if lean else "custom"


def _drop(conn: psycopg.Connection, entry: ProfileIndex, lock_timeout: str) -> int:
    size = conn.execute(
        "select coalesce(sum(pg_relation_size(c)), 0)::bigint from ("
        " select %s::regclass as c union all"
        " select inhrelid::regclass from pg_inherits where inhparent = %s::regclass) as s",
        (f"public.{entry.name}", f"public.{entry.name}"),
    ).fetchone()
    with conn.transaction():
        conn.execute(f"set local lock_timeout = '{lock_timeout}'")
        conn.execute(
            sql.SQL("drop index if exists {}").format(sql.Identifier("public", entry.name))
        )
    return int(size[0]) if size else 0


def _build(conn: psycopg.Connection, statement: str, name: str) -> None:
    """CREATE INDEX CONCURRENTLY `statement`; a failed build leaves an invalid index, dropped."""
    try:
        conn.execute(statement)
    except psycopg.Error:
        conn.execute(sql.SQL("drop index if exists {}").format(sql.Identifier("public", name)))
        raise


def _create(conn: psycopg.Connection, entry: ProfileIndex, say: Notice) -> None:
    """Create the index without blocking writers: CONCURRENTLY on a plain table; on a
    partitioned one, the parent's index ON ONLY, then each partition's CONCURRENTLY, attached
    one by one (resumable: partitions already attached are skipped)."""
    match = _DEFINITION.match(entry.definition)
    if match is None:
        raise IndexProfileError(f"{entry.name}: unexpected definition {entry.definition!r}")
    unique = match["unique"] or ""
    if not match["only"]:
        say(f"creating {entry.name} on {entry.table} (concurrently)")
        rest = entry.definition[len(f"CREATE {unique}INDEX ") :]
        _build(conn, f"CREATE {unique}INDEX CONCURRENTLY {rest}", entry.name)
        return
    parent = _index_oid(conn, entry.name)
    if parent is None:
        conn.execute(entry.definition)
        parent = _index_oid(conn, entry.name)
    partitions = conn.execute(
        "select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid"
        " where i.inhparent = %s::regclass and not exists (select from pg_inherits as ii"
        " join pg_index as x on x.indexrelid = ii.inhrelid"
        " where ii.inhparent = %s and x.indrelid = c.oid) order by 1",
        (f"public.{entry.table}", parent),
    ).fetchall()
    for (partition,) in partitions:
        child = f"{partition}_{entry.name}"[:63]
        say(f"creating {entry.name} on {partition} (concurrently)")
        conn.execute(sql.SQL("drop index if exists {}").format(sql.Identifier("public", child)))
        _build(
            conn,
            f'CREATE {unique}INDEX CONCURRENTLY "{child}" ON public."{partition}" {match["rest"]}',
            child,
        )
        conn.execute(
            sql.SQL("alter index {} attach partition {}").format(
                sql.Identifier("public", entry.name), sql.Identifier("public", child)
            )
        )


def apply_profile(
    conn: psycopg.Connection,
    profile: str,
    *,
    on_notice: Notice | None = None,
    lock_timeout: str = "30s",
) -> ProfileReport:
    """Bring the raw tables' indexes to `profile` (idempotent, resumable).

    Lean drops, on the parent tables (the partitions follow), the catalogued indexes the lean
    profile leaves out; full creates the missing ones without blocking writers (CONCURRENTLY,
    partition by partition). New partitions (partition upkeep, the demo loader) take the
    parent's indexes, so a profile stays in force.

    Args:
        conn: an autocommit connection of the tables' owner (CONCURRENTLY needs one).
        profile: `full` or `lean`.
        on_notice: receives one progress line per index (and partition).
        lock_timeout: how long a drop waits for writers of its table.

    Raises:
        ValueError: an unknown profile.
        IndexProfileError: no catalogue, or a statement failed (a drop that could not get its
            lock in `lock_timeout`, a build that failed: the report so far is lost, the
            indexes already done stay done; run it again).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (expected one of {', '.join(PROFILES)})")
    if not conn.autocommit:
        raise IndexProfileError("index profiles need an autocommit connection (CONCURRENTLY)")
    say = on_notice or (lambda _line: None)
    started = time.monotonic()
    report = ProfileReport(profile)
    for entry in catalog(conn):
        want = profile == "full" or entry.lean
        try:
            if not want and _index_oid(conn, entry.name) is not None:
                say(f"dropping {entry.name} on {entry.table}")
                report.dropped.append((entry.name, _drop(conn, entry, lock_timeout)))
            elif want and not _complete(conn, entry):
                t0 = time.monotonic()
                _create(conn, entry, say)
                report.created.append((entry.name, time.monotonic() - t0))
            else:
                report.unchanged.append(entry.name)
        except psycopg.errors.LockNotAvailable:
            raise IndexProfileError(
                f"{entry.table} stayed locked by other sessions for {lock_timeout}: "
                f"{entry.name} not dropped (run again when ingest or a build is done)"
            ) from None
        except psycopg.Error as err:
            raise IndexProfileError(f"{entry.name}: {err}") from None
    report.seconds = time.monotonic() - started
    return report

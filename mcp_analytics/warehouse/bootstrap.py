"""Apply the ordered files of `bootstrap_sql/`, once each, with a checksum ledger.

Each file runs in its own transaction together with its ledger row, so a failing file leaves
nothing half-applied. Re-running applies only new files; a file that was edited after it was
applied is refused (write a new file instead), so every database that says it ran file N ran
the same file N.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from mcp_analytics.warehouse import db

log = logging.getLogger(__name__)

LEDGER = "mcp_analytics_migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any constant works: it only has to be the same for every process that bootstraps.
_LOCK_KEY = 0x6D6370_61
# A function's `SET mcp_analytics.x = ...` clause (040 has one). PostgreSQL lets only a superuser,
# or a role granted SET on that parameter (15+), declare a SET clause on a custom parameter.
_FUNCTION_SET = re.compile(r"^\s*set\s+(mcp_analytics\.[a-z0-9_]+)\s*(?:=|to)\s", re.I | re.M)


# Applied files revised before the first release. A ledger row with one of these checksums
# says the database ran the earlier text; the files after it bring both texts to the same
# state, so it counts as applied (every other difference is refused as an edit). This closes
# with the first release: from then on an applied file is never revised, not even this way.
# tests/foundation/test_bootstrap_revisions.py proves the same state (catalogue and seeded rows).
EARLIER_REVISIONS: dict[str, frozenset[str]] = {
    # Defined a first body of mark_mart_buckets_dirty(), which 063 replaced (and its twelve
    # triggers one statement each): it now defines a placeholder that 063 replaces (same
    # owner, the same revoked EXECUTE) and the same triggers in a loop.
    "010_mart_dirty_buckets.sql": frozenset(
        {"7ad8179194444032386e27fd0d0d6ae28985d59c8a99ef588bdf311309a6f312"}
    ),
    # Defined a first body of mart_hist_quantile(jsonb, ...), which 122 replaced (read through
    # the packed form, the same comment): 011 no longer defines it (nothing calls it between).
    "011_latency_histograms.sql": frozenset(
        {"6c90a135cf3ef4d089fe33a454b00a2a51d0f0e633d5f78727864c685e94d995"}
    ),
    # Defined a first mart_hist_quantiles(jsonb, ...) with its own cumulative sums, which 122
    # replaced (read through the packed form, the same comment): 013 now holds only its account.
    "013_latency_histogram_quantiles.sql": frozenset(
        {"6532dca9e1d844bc904cee7070f45f8189d9a027a8074271c0c219c64edc3fa8"}
    ),
    # Made row-level security and the admin/self policies of users, sessions and
    # system_configuration one statement each: now one loop over the three tables makes the
    # same ones.
    "022_row_level_security.sql": frozenset(
        {"8fc8f687f01ed518aa9c794d2ef7e2181880faec96ca06615914c0d98b3cd2f0"}
    ),
    # Defined a first body of ingest_settings(), which 062 replaced: it now defines a
    # placeholder (the grants of 031 need the function) that 062 replaces (same signature,
    # volatility, security and search_path from 062's statement, the same grants).
    "030_ingest.sql": frozenset(
        {"527c3c4611f5dd581895f3684fdb1103a9bb83c45547c66bae35d492477c87ed"}
    ),
    # Declared apply_retention() with `set mcp_analytics.retention = 'on'`, which a
    # non-superuser owner may create only with GRANT SET ON PARAMETER (managed PostgreSQL
    # rarely allows it); 041 removes the clause from databases that ran it.
    "040_retention.sql": frozenset(
        {"e4836ce52a8652f1f74c6372732bf45278592664beb8702d3adc39a568b823b9"}
    ),
    # Reset that clause unconditionally (which needs the same grant even with no clause); then
    # (e42c509) a header comment one word apart from the next; then (e1ded91) defined a first
    # apply_retention() wrapper, which 063 replaced: 063 now defines it with the comment and
    # grants 041 gave it, and 041 only renames 040's function.
    "041_retention_flag.sql": frozenset(
        {
            "2b4c7ba210cd34b4c4a3969bc3c9010ef8239f6e88878de54d05145bb4b74212",
            "d869f458205261a68b8023537142d0477eab0b7d8af6b37c3bfd2f1578b6941c",
            "3ae9a5523f42f33052df62949ff487de3b7fbf4cebffef9f2b01d61abdb0971a",
        }
    ),
    # Added original_values and its comment to the four raw tables one statement each: now one
    # loop over the four tables adds the same column and comment.
    "060_label_widths.sql": frozenset(
        {"5d4086645681d1e2d051fdd664f1be8830ad258d4a685a37428aa9cfa2fe5880"}
    ),
    # Replaced 041's apply_retention() without its comment and grants, which it now gives.
    "063_maintenance_locks.sql": frozenset(
        {"6098d15895f8b307e8bf59a91db4636a621869bdda427fbb2a0ee84b1bb045bc"}
    ),
    # Added the error-class columns to the two tool usage marts in two copies of one
    # statement: now one loop over the two marts adds the same columns.
    "080_error_classes.sql": frozenset(
        {"66ac4dc195e085c40303f96614c5388dbb119f310ece0c38c9d949704202092e"}
    ),
    # Defined the first mcp_record_inventory(), which 115 replaced with its "kinds": 082 no
    # longer defines it, 115 defines it with the grants 082 gave it (nothing calls it between).
    # For a while (18d747c) 082 defined 115's function, grants and comment, and 115 did not:
    # the same function, grants and comment.
    "082_tool_inventory.sql": frozenset(
        {
            "c2063550b7c18e8409b1656d52fbcd195bc2097e49efde5c3d8788452138b569",
            "e7b416f17f8ec2360cb087df73ab399f284a770eb3b721e582a1454bc01f43d8",
        }
    ),
    # Gave 013's mart_hist_quantiles(jsonb, ...) a nested-loop setting, which 122's definition
    # (reading the packed form, no query of its own) does without: 105 no longer sets it.
    "105_packed_histograms.sql": frozenset(
        {"fa7485b70e8a9c7af92a8ff5fbff490c4661a97cd485bcd161ff6f16eea1b6f6"}
    ),
    "115_inventory_sources.sql": frozenset(
        {
            "37ac7af552f3794dd2502b090150ed1b4bd16e47391dadb57552cbb8a997d9ee",
            "5564fa6abe01b8103cf2278fd6e50641337c6b4f65388e7fe1f1e6ebe448970a",
        }
    ),
    # Defined mart_hist_quantiles(numeric, ...) reading the digits itself, which 117 replaced
    # (fields read with mart_hist_sent_field, same comment): 116 no longer defines it. For a
    # while (09e690e) 116 defined 117's function and 117 did not: the same function.
    "116_packed_histogram_quantiles.sql": frozenset(
        {
            "06f1a498c1c2a1155ce8de15468858ad51154e28c8f2c7cf167f18f2c9ada48b",
            "1bfbd6957fe418022b5d203fc99aa3777d53a4d4eddf6cc603bb7c362dc486fd",
        }
    ),
    "117_packed_histogram_fields.sql": frozenset(
        {"468e995c86f2971b7c5e5c78c43193e268bdfe59ee2b7331f066f0d5764a574e"}
    ),
}


class BootstrapError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 hex of the file's text: what the ledger records (an applied file is never
        edited)."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class BootstrapResult:
    applied: list[str]
    already_applied: list[str]


def discover(directory: Path) -> list[Migration]:
    """The bootstrap files of `directory` (`NNN_lowercase_words.sql`), in number order.

    Raises:
        BootstrapError: the directory is missing, a file is misnamed, or two share a number.
    """
    if not directory.is_dir():
        raise BootstrapError(f"bootstrap directory {directory} does not exist")
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        if not _NAME.match(path.name):
            raise BootstrapError(f"{path.name}: bootstrap files are named NNN_lowercase_words.sql")
        migrations.append(Migration(path.name, path, path.read_text()))
    numbers = [m.name[:3] for m in migrations]
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    if dupes:
        raise BootstrapError(f"two bootstrap files share the number(s) {', '.join(dupes)}")
    return migrations


def _applied(conn: psycopg.Connection) -> dict[str, str]:
    conn.execute(
        f"""
        create table if not exists public.{LEDGER} (
            filename text primary key,
            checksum char(64) not null,
            applied_at timestamptz not null default now()
        )
        """
    )
    rows = conn.execute(f"select filename, checksum from public.{LEDGER}").fetchall()
    return {name: checksum.strip() for name, checksum in rows}


def _check_parameter_privileges(conn: psycopg.Connection, pending: list[Migration]) -> None:
    """Refuse before applying anything when a pending file needs SET on a parameter we lack.

    Without this a non-superuser owner would apply the files before it and then stop halfway
    with "permission denied to set parameter".
    """
    needed = sorted({name.lower() for m in pending for name in _FUNCTION_SET.findall(m.sql)})
    if not needed:
        return
    missing = [
        name
        for name in needed
        if not db.scalar(
            conn,
            "select rolsuper or has_parameter_privilege(current_user, %s, 'SET')"
            " from pg_catalog.pg_roles where rolname = current_user",
            (name,),
        )
    ]
    if missing:
        user = db.scalar(conn, "select quote_ident(current_user)")
        grants = "; ".join(f"grant set on parameter {name} to {user}" for name in missing)
        raise BootstrapError(
            f"{user} is not a superuser and may not create functions that set {', '.join(missing)}"
            f" (a custom parameter). Ask a superuser to run once per server: {grants};"
            " then bootstrap again. Nothing was applied. See docs/security.md."
        )


#: how long `bootstrap` waits for another bootstrap of the same database before giving up
DEFAULT_LOCK_WAIT_S = 300.0


def _take_lock(
    conn: psycopg.Connection, wait_s: float, say: Callable[[str], None], poll_s: float = 0.5
) -> None:
    """Take the bootstrap lock, waiting at most `wait_s` seconds for another bootstrap (said
    every 10 s, with its pid); a wait that runs out raises `BootstrapError` naming the holder."""
    deadline = time.monotonic() + wait_s
    next_note = time.monotonic()
    while not db.scalar(conn, "select pg_try_advisory_lock(%s)", (_LOCK_KEY,)):
        holder = db.scalar(
            conn,
            "select string_agg(pid::text, ', ') from pg_catalog.pg_locks"
            " where locktype = 'advisory' and granted and classid = 0 and objid = %s"
            " and objsubid = 1 and database = (select oid from pg_catalog.pg_database"
            " where datname = current_database())",
            (_LOCK_KEY,),
        )
        if time.monotonic() >= deadline:
            raise BootstrapError(
                f"another bootstrap of this database (server process {holder or 'unknown'}) held"
                f" its lock for more than {wait_s:g} s. Nothing was applied. Wait for it to end"
                " and run again, or end it with pg_terminate_backend(pid) if it is stuck."
            )
        if time.monotonic() >= next_note:
            say(f"waiting for another bootstrap of this database (server process {holder})")
            next_note = time.monotonic() + 10
        time.sleep(poll_s)


def bootstrap(
    conn: psycopg.Connection,
    directory: Path,
    progress: Callable[[str], None] | None = None,
    *,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
) -> BootstrapResult:
    """Apply pending files on `conn` (which must be in autocommit mode), one transaction each.

    Waits at most `lock_wait_s` seconds for a concurrent bootstrap of the same database.

    Raises:
        BootstrapError: not autocommit, an applied file edited, a missing privilege, the lock
            not free in time, or a file that fails (named; it and later files not applied).
    """
    if not conn.autocommit:
        raise BootstrapError("bootstrap needs an autocommit connection (one transaction per file)")
    migrations = discover(directory)
    say = progress or (lambda _msg: None)
    # One bootstrap at a time per database: concurrent runs would race on the ledger.
    _take_lock(conn, lock_wait_s, say)
    try:
        done = _applied(conn)
        edited = [
            m.name
            for m in migrations
            if m.name in done
            and done[m.name] != m.checksum
            and done[m.name] not in EARLIER_REVISIONS.get(m.name, ())
        ]
        if edited:
            raise BootstrapError(
                "already-applied bootstrap file(s) were edited since: "
                + ", ".join(edited)
                + ". Put the change in a new file instead (or reset a development database "
                "with `mcp-analytics db reset`)."
            )
        missing = sorted(set(done) - {m.name for m in migrations})
        if missing:
            log.warning("applied bootstrap files no longer on disk: %s", ", ".join(missing))
        _check_parameter_privileges(conn, [m for m in migrations if m.name not in done])
        applied, skipped = [], []
        for migration in migrations:
            if migration.name in done:
                skipped.append(migration.name)
                continue
            say(f"applying {migration.name}")
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        f"insert into public.{LEDGER} (filename, checksum) values (%s, %s)",
                        (migration.name, migration.checksum),
                    )
            except psycopg.Error as err:
                raise BootstrapError(f"{migration.name} failed: {err}") from err
            applied.append(migration.name)
        return BootstrapResult(applied, skipped)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))

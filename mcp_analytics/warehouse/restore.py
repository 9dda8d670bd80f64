"""Restore a backup of `mcp-analytics backup`, then verify it against its manifest.

Onto an empty database (refused otherwise, unless `force`, which drops and recreates it): the
roles the dump refers to are checked first (group roles the server lacks are created, missing
login roles are named in an error before anything is written), pg_restore runs in one
transaction and stops at the first error, the database's own privileges and settings are
applied (a dump of one database does not carry them), then every check of the manifest runs:
rows per table, the bootstrap ledger, the archive catalogue and its files, the marts as
restored, and the marts after `dbt build` (what `mcp-analytics build` runs).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from mcp_analytics.dbt.env import DbtNotFoundError
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse import db, inventory
from mcp_analytics.warehouse.backup import (
    Backup,
    Manifest,
    file_sha256,
    read_backup,
    run_client,
    tail,
)
from mcp_analytics.warehouse.bootstrap import LEDGER, discover
from mcp_analytics.warehouse.inventory import MARTS_SCHEMA, USER_SCHEMA, Inventory
from mcp_analytics.warehouse.pgtools import PgTool, PgToolError, find_tool, server_major
from mcp_analytics.warehouse.tables import raw_table_names

Progress = Callable[[str], None]
#: Schemas whose tables hold the warehouse's data (a data-only restore refuses to mix into it).
_DATA_SCHEMAS = (MARTS_SCHEMA, "archive")


class RestoreError(RuntimeError):
    """The restore could not start or stopped (the message says why and what to do)."""


@dataclass(frozen=True)
class Check:
    """One verification after a restore: what was compared, whether it held, the details.
    A skipped check (`skipped`, with `ok` True) could not run and says what to do instead."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        """`ok`, `FAIL` or `skip`: the first column of the report."""
        return "skip" if self.skipped else "ok" if self.ok else "FAIL"


@dataclass
class RestoreReport:
    """What a restore did and what its verification found (`describe()`: the CLI's output)."""

    backup: Backup
    database: str
    pg_restore: PgTool
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check held."""
        return all(c.ok for c in self.checks)

    def describe(self) -> str:
        m = self.backup.manifest
        out = [
            f"restored {self.backup.dump} ({m.mode}, taken {m.created_at} from PostgreSQL"
            f" {m.inventory.server_version}) into database {self.database!r} with"
            f" {self.pg_restore} in {self.seconds:.1f} s",
            *self.notes,
        ]
        for check in self.checks:
            out.append(f"{check.status:<4}  {check.name}: {check.detail}")
        failed = sum(not c.ok for c in self.checks)
        out.append("verified: every check holds" if not failed else f"{failed} check(s) failed")
        return "\n".join(out)


# --------------------------------------------------------------------------- before restoring


def user_objects(conn: psycopg.Connection, limit: int = 5) -> tuple[int, list[str]]:
    """(how many, the first `limit` names of) relations, routines and schemas other than
    `public` in the database: an empty database has none."""
    # executed without parameters, so `%` reaches the server as written (no `%%`)
    query = f"""
        select kind || ' ' || name from (
            select 'relation' as kind, format('%I.%I', n.nspname, c.relname) as name
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where {USER_SCHEMA} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
            union all
            select 'function', format('%I.%I', n.nspname, p.proname)
            from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
            where {USER_SCHEMA}
            union all
            select 'schema', quote_ident(n.nspname) from pg_namespace as n
            where {USER_SCHEMA} and n.nspname <> 'public'
        ) as objects order by 1
    """
    names = [r[0] for r in conn.execute(query).fetchall()]
    return len(names), names[:limit]


def tables_with_data(conn: psycopg.Connection) -> list[str]:
    """Tables holding the warehouse's data that have rows: the raw telemetry and auth tables,
    and every table of the marts and archive schemas (configuration rows do not count)."""
    names = [f"public.{t}" for t in raw_table_names("telemetry") + raw_table_names("auth")]
    names += [
        f"{s}.{t}" for s, t in inventory.tables(conn) if s in _DATA_SCHEMAS
    ]  # fmt: skip
    full = []
    for name in names:
        exists = conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()
        if not exists or not exists[0]:
            continue
        schema, table = name.split(".", 1)
        query = sql.SQL("select exists (select from {})").format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        if row and row[0]:
            full.append(name)
    return full


def _recreate_database(url: str) -> None:
    name = db.libpq_params(url)["dbname"]
    try:
        with psycopg.connect(db.with_database(url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.Error as err:
        raise RestoreError(
            f"--force: cannot drop and recreate database {name!r}: {redact_text(str(err))}"
        ) from None


def _check_empty(conn: psycopg.Connection, url: str, manifest: Manifest, force: bool) -> bool:
    """Refuse a non-empty target (or drop and recreate it with `force`); True when recreated."""
    name = db.libpq_params(url)["dbname"]
    if manifest.mode == "data-only":
        return _check_data_only_target(conn, manifest, force)
    count, first = user_objects(conn)
    if not count:
        return False
    if not force:
        raise RestoreError(
            f"database {name!r} is not empty ({count} objects, e.g. {', '.join(first)}): "
            "restore onto an empty database (`mcp-analytics db reset` empties the project's), "
            f"or pass --force to drop and recreate {name!r} (everything in it is lost)"
        )
    return True


def _check_data_only_target(conn: psycopg.Connection, manifest: Manifest, force: bool) -> bool:
    """A data-only backup goes into a database with the same schema and bootstrap ledger
    (bootstrapped, or restored from a schema-only backup), whose tables it replaces."""
    ledger = inventory.ledger(conn)
    if ledger != manifest.inventory.ledger:
        raise RestoreError(
            "a data-only backup needs a database with the bootstrap ledger it was taken at "
            f"({len(manifest.inventory.ledger)} files); this one has {len(ledger)} "
            + ("(run `mcp-analytics bootstrap` at the backup's version first)" if not ledger
               else "(a different set: restore a full or schema-only backup instead)")
        )  # fmt: skip
    present = {f"{s}.{t}" for s, t in inventory.tables(conn)}
    missing = sorted(set(manifest.inventory.row_counts) - present)
    if missing:
        raise RestoreError(
            f"the target lacks {len(missing)} table(s) the data-only backup fills: "
            f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} (archive tables and "
            "partitions are created by retention and upkeep: restore the schema-only backup "
            "taken with it, or a full backup)"
        )
    holding = tables_with_data(conn)
    if holding and not force:
        raise RestoreError(
            f"the target already holds data in {', '.join(holding[:8])}: pass --force to "
            "replace the rows of every table the backup fills"
        )
    return False


def ensure_roles(conn: psycopg.Connection, manifest: Manifest, say: Progress) -> list[str]:
    """Create the group (NOLOGIN) roles the dump refers to and the server lacks, and their
    memberships; returns what was done.

    Raises:
        RestoreError: login roles are missing (they carry passwords: create them by hand), or
            the current user may not create roles. Nothing was created then.
    """
    wanted = manifest.inventory.roles
    existing = {r[0] for r in conn.execute("select rolname from pg_roles").fetchall()}
    missing = [r for r in wanted if r.name not in existing]
    logins = [r.name for r in missing if r.can_login or r.superuser]
    if logins:
        creates = "; ".join(f"create role {r} login password '...'" for r in logins)
        raise RestoreError(
            f"the backup's objects belong to, or are granted to, login role(s) this server "
            f"lacks: {', '.join(logins)}. Create them first ({creates}), then restore again; "
            "nothing was restored"
        )
    done = []
    try:
        with conn.transaction():
            for role in missing:
                ident = sql.Identifier(role.name)
                conn.execute(
                    sql.SQL("create role {} nologin {}").format(
                        ident, sql.SQL("inherit" if role.inherit else "noinherit")
                    )
                )
                if role.comment:
                    conn.execute(
                        sql.SQL("comment on role {} is {}").format(ident, sql.Literal(role.comment))
                    )
                done.append(f"created role {role.name} (nologin, as in the backup)")
            for group, member, admin in manifest.inventory.memberships:
                has = conn.execute(
                    "select exists (select from pg_auth_members as am"
                    " join pg_roles as g on g.oid = am.roleid"
                    " join pg_roles as m on m.oid = am.member"
                    " where g.rolname = %s and m.rolname = %s)",
                    (group, member),
                ).fetchone()
                if has and has[0]:
                    continue
                conn.execute(
                    sql.SQL("grant {} to {}{}").format(
                        sql.Identifier(group),
                        sql.Identifier(member),
                        sql.SQL(" with admin option" if admin else ""),
                    )
                )
                done.append(f"granted role {group} to {member}")
    except psycopg.errors.InsufficientPrivilege as err:
        names = ", ".join(r.name for r in missing) or "memberships"
        raise RestoreError(
            f"cannot create the roles the backup refers to ({names}): {err}. Ask a user with "
            "CREATEROLE to create them (see bootstrap_sql/020_roles.sql), then restore again"
        ) from None
    for line in done:
        say(line)
    return done


def _apply_database_properties(conn: psycopg.Connection, inv: Inventory) -> None:
    """The database's privileges and settings as recorded (pg_restore restores them only
    with --create, which would also fix the database's name)."""
    name = sql.Identifier(conn.info.dbname)
    if inv.database_acl is not None:
        conn.execute(sql.SQL("revoke all on database {} from public").format(name))
        for grantee, privilege, grantable in inv.database_acl:
            who = sql.SQL("public") if grantee == "PUBLIC" else sql.Identifier(grantee)
            conn.execute(
                sql.SQL("grant {} on database {} to {}{}").format(
                    sql.SQL(privilege.lower()),
                    name,
                    who,
                    sql.SQL(" with grant option" if grantable else ""),
                )
            )
    for setting in inv.database_settings:
        key, _, value = setting.partition("=")
        conn.execute(
            sql.SQL("alter database {} set {} = {}").format(
                name, sql.Identifier(*key.split(".")), sql.Literal(value)
            )
        )


# --------------------------------------------------------------------------- verification


def _compare_counts(expected: dict[str, int], found: dict[str, int]) -> Check:
    diff = [
        f"{t}: {expected.get(t, 'absent')} in the backup, {found.get(t, 'absent')} restored"
        for t in sorted(set(expected) | set(found))
        if expected.get(t) != found.get(t)
    ]
    total = sum(expected.values())
    if diff:
        return Check("rows per table", False, "; ".join(diff[:10]))
    return Check("rows per table", True, f"{len(expected)} tables, {total:,} rows as recorded")


def _compare_marts(name: str, expected: Inventory, found: Inventory) -> Check:
    diff = [
        f"{m}: {expected.marts[m].rows if m in expected.marts else 'absent'} rows recorded, "
        f"{found.marts[m].rows if m in found.marts else 'absent'} now"
        + (" (same count, other values)" if m in expected.marts and m in found.marts else "")
        for m in sorted(set(expected.marts) | set(found.marts))
        if expected.marts.get(m) != found.marts.get(m)
    ]
    if diff:
        return Check(name, False, "; ".join(diff))
    rows = sum(f.rows for f in found.marts.values())
    return Check(name, True, f"{len(found.marts)} marts, {rows:,} rows, same fingerprints")


def verify(conn: psycopg.Connection, manifest: Manifest) -> tuple[Inventory, list[Check]]:
    """Compare the restored database with its manifest: bootstrap ledger, rows per table,
    archive catalogue and files, marts as restored."""
    expected = manifest.inventory
    with_data = manifest.mode != "schema-only"
    found = inventory.take(conn, with_data=with_data)
    checks = [
        Check(
            "bootstrap ledger",
            found.ledger == expected.ledger,
            f"{len(found.ledger)} files applied, as recorded"
            if found.ledger == expected.ledger
            else f"{len(expected.ledger)} recorded, {len(found.ledger)} restored, contents differ",
        )
    ]
    if not with_data:
        return found, checks
    checks.append(_compare_counts(expected.row_counts, found.row_counts))
    same_catalog = found.archive_catalog == expected.archive_catalog
    checks.append(
        Check(
            "archive catalogue",
            same_catalog,
            f"{len(found.archive_catalog)} entries, as recorded"
            if same_catalog
            else f"{len(expected.archive_catalog)} recorded, {len(found.archive_catalog)} "
            "restored, contents differ",
        )
    )
    gone = [
        f["path"] for f in expected.archive_files if f["exists"] and not Path(f["path"]).is_file()
    ]
    if expected.archive_files:
        checks.append(
            Check(
                "archive files",
                not gone,
                f"{len(expected.archive_files)} Parquet files named by the catalogue are in place"
                if not gone
                else f"{len(gone)} of the Parquet files the catalogue names are missing here "
                f"(copy {manifest.archive_dir} from the old machine): {', '.join(gone[:5])}",
            )
        )
    checks.append(_compare_marts("marts as restored", expected, found))
    return found, checks


def _build_and_compare(
    url: str, manifest: Manifest, target_path: Path | None, say: Progress
) -> list[Check]:
    """`dbt build` on the restored database, then the marts against the manifest."""
    say("running dbt build (what `mcp-analytics build` runs) on the restored database")
    try:
        proc = run_dbt(["build"], url=url, target_path=target_path, capture=True)
    except DbtNotFoundError as err:
        return [Check("dbt build", False, str(err))]
    if proc.returncode != 0:
        return [Check("dbt build", False, f"exit status {proc.returncode}:\n{tail(proc.stdout)}")]
    checks = [Check("dbt build", True, "models and tests passed")]
    with psycopg.connect(url, autocommit=True) as conn:
        after = inventory.take(conn)
    pending = manifest.inventory.pending_dirty_buckets
    if pending:
        checks.append(
            Check(
                "marts after the build",
                after.pending_dirty_buckets == 0,
                f"the backup held {pending} late-data ledger entries not built yet; the build "
                f"took them ({after.pending_dirty_buckets} left), so the marts now include "
                "data they did not at backup time (not compared)",
            )
        )
    else:
        checks.append(_compare_marts("marts after the build", manifest.inventory, after))
    return checks


# --------------------------------------------------------------------------- restore


def _pg_restore_args(manifest: Manifest, superuser: bool) -> list[str]:
    args = ["--exit-on-error", "--single-transaction", "--no-password"]
    if manifest.mode == "data-only":
        args.append("--data-only")
    if not superuser:
        args.append("--enable-row-security")
    return args


@contextlib.contextmanager
def _user_triggers_disabled(conn: psycopg.Connection, manifest: Manifest) -> Iterator[None]:
    """For a data-only restore: the enabled user triggers of the tables it fills and of
    their partitioned parents, disabled for its duration. The late-data triggers would
    otherwise record every restored hour again beside the backup's own ledger rows.
    (pg_restore's --disable-triggers acts on the partitions only, needs a superuser, and
    the rows go through the parents.) A full restore creates the triggers after the rows."""
    if manifest.mode != "data-only":
        yield
        return
    tables = list(manifest.inventory.row_counts)
    triggers = conn.execute(
        "select distinct format('%%I.%%I', n.nspname, c.relname), t.tgname"
        " from pg_trigger as t join pg_class as c on c.oid = t.tgrelid"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where not t.tgisinternal and t.tgenabled = 'O' and t.tgrelid in ("
        "   select x.name::regclass from unnest(%s::text[]) as x (name)"
        "   union select a.relid from unnest(%s::text[]) as x (name),"
        "   lateral pg_partition_ancestors(x.name::regclass) as a)",
        (tables, tables),
    ).fetchall()
    for table, trigger in triggers:
        conn.execute(
            sql.SQL("alter table {} disable trigger {}").format(
                sql.SQL(table), sql.Identifier(trigger)
            )
        )
    try:
        yield
    finally:
        for table, trigger in triggers:
            conn.execute(
                sql.SQL("alter table {} enable trigger {}").format(
                    sql.SQL(table), sql.Identifier(trigger)
                )
            )


def _truncate_for_data(conn: psycopg.Connection, manifest: Manifest) -> None:
    # The ledger is not in a data-only dump (the target's was checked equal to it).
    names = [
        sql.Identifier(*t.split(".", 1))
        for t in manifest.inventory.row_counts
        if t != f"public.{LEDGER}"
    ]
    if names:
        conn.execute(sql.SQL("truncate {} cascade").format(sql.SQL(", ").join(names)))


def restore(
    url: str,
    path: Path,
    *,
    force: bool = False,
    build: bool = True,
    prefer_embedded: bool = False,
    dbt_target_path: Path | None = None,
    on_progress: Progress | None = None,
) -> RestoreReport:
    """Restore the backup at `path` into the database of `url`, then verify it.

    Args:
        url: libpq URL of the target database (created when missing; its server must be of
            the backup's major version or newer).
        path: the backup's `.dump` file (its manifest beside it).
        force: replace a non-empty target (full and schema-only: drop and recreate the
            database; data-only: empty the tables the backup fills).
        build: run `dbt build` and compare the marts afterwards.
        dbt_target_path: dbt's target/ for that build (None: the project's).
        on_progress: receives one line per step.

    Returns:
        A RestoreReport; `ok` is False when a check failed (the data stays restored).

    Raises:
        RestoreError: the backup is damaged or missing, the target is not empty (without
            `force`), roles are missing, no suitable pg_restore, pg_restore failed (its
            single transaction leaves nothing half-restored).
    """
    say = on_progress or (lambda _line: None)
    started = time.monotonic()
    try:
        backup = read_backup(path)
    except RuntimeError as err:
        raise RestoreError(str(err)) from None
    manifest = backup.manifest
    say(f"checking {backup.dump} against its manifest (sha256)")
    if file_sha256(backup.dump) != manifest.dump_sha256:
        raise RestoreError(
            f"{backup.dump} does not match the checksum its manifest recorded: the file is "
            "damaged or was replaced; restore another backup"
        )
    conn = _open_target(url, manifest, force, say)
    with conn:
        tool = _pick_pg_restore(conn, manifest, prefer_embedded)
        report = RestoreReport(backup, conn.info.dbname, tool)
        report.notes += ensure_roles(conn, manifest, say)
        superuser = bool(
            db.scalar(
                conn,
                "select rolsuper or rolbypassrls from pg_roles where rolname = current_user",
            )
        )
        if manifest.mode == "data-only":
            say("emptying the tables the data-only backup fills")
            _truncate_for_data(conn, manifest)
        say(f"running {tool.path.name} {manifest.mode} into {conn.info.dbname!r}")
        with _user_triggers_disabled(conn, manifest):
            proc = run_client(tool, [*_pg_restore_args(manifest, superuser), str(backup.dump)], url)
        if proc.returncode != 0:
            raise RestoreError(
                f"pg_restore ({tool}) failed; its single transaction was rolled back:\n"
                f"{tail(proc.stderr)}"
            )
        _after_pg_restore(conn, manifest)
        say("analyze (planner statistics are not part of a dump)")
        conn.execute("analyze")
        say("verifying against the manifest")
        _, checks = verify(conn, manifest)
        report.checks += checks
        pending = _pending_bootstrap_files(manifest)
    if pending:
        report.notes.append(
            f"{len(pending)} bootstrap file(s) on disk are newer than the backup "
            f"({', '.join(pending[:5])}{' ...' if len(pending) > 5 else ''}): run "
            "`mcp-analytics bootstrap` to bring the restored database up to date"
        )
    if build and manifest.mode != "schema-only":
        if pending:
            # This version's models may need those files: the build would test the upgrade,
            # not the backup.
            report.checks.append(
                Check(
                    "dbt build",
                    True,
                    "not run: the installed version is newer than the backup; run "
                    "`mcp-analytics bootstrap`, then `mcp-analytics build`",
                    skipped=True,
                )
            )
        else:
            report.checks += _build_and_compare(url, manifest, dbt_target_path, say)
    report.seconds = time.monotonic() - started
    return report


def _open_target(url: str, manifest: Manifest, force: bool, say: Progress) -> psycopg.Connection:
    """An autocommit connection to the target, created when missing, checked empty (or
    recreated with `force`)."""
    try:
        db.ensure_database(url)
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as err:
        raise RestoreError(f"cannot reach the target database: {redact_text(str(err))}") from None
    try:
        recreate = _check_empty(conn, url, manifest, force)
    except BaseException:
        conn.close()
        raise
    if recreate:
        say(f"--force: dropping and recreating database {conn.info.dbname!r}")
        conn.close()
        _recreate_database(url)
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    return conn


def _after_pg_restore(conn: psycopg.Connection, manifest: Manifest) -> None:
    """What pg_restore does not bring: the database's privileges and settings, and for a
    schema-only backup the ledger's rows (the dump holds no rows, the ledger's included)."""
    if manifest.mode != "data-only":
        _apply_database_properties(conn, manifest.inventory)
    if manifest.mode == "schema-only":
        with conn.transaction():
            for filename, checksum in manifest.inventory.ledger:
                conn.execute(
                    f"insert into public.{LEDGER} (filename, checksum) values (%s, %s)",
                    (filename, checksum),
                )


def _pick_pg_restore(conn: psycopg.Connection, manifest: Manifest, prefer_embedded: bool) -> PgTool:
    target = server_major(int(db.scalar(conn, "select current_setting('server_version_num')")))
    if target < manifest.server_major:
        raise RestoreError(
            f"the backup is of PostgreSQL {manifest.server_major}, this server is {target}: "
            f"restore onto PostgreSQL {manifest.server_major} or newer"
        )
    try:
        # It must read the archive (as new as the pg_dump that wrote it) and speak to the server.
        return find_tool(
            "pg_restore", max(target, manifest.pg_dump_major), prefer_embedded=prefer_embedded
        )
    except PgToolError as err:
        raise RestoreError(str(err)) from None


def _pending_bootstrap_files(manifest: Manifest) -> list[str]:
    """Bootstrap files on disk that the restored ledger has not applied."""
    from mcp_analytics.config import settings

    try:
        on_disk = [m.name for m in discover(settings().bootstrap_dir)]
    except RuntimeError:
        return []
    applied = {name for name, _ in manifest.inventory.ledger}
    return [n for n in on_disk if n not in applied]

"""Backups of the warehouse database: `mcp-analytics backup`, the Dagster asset
`maintenance/backup`, and the manifest a restore verifies against.

A backup is two files side by side: `<name>.dump`, written by pg_dump in its custom format
(gzip-compressed, restorable table by table with pg_restore), and `<name>.manifest.json`, which
records what the dump holds, read in the very snapshot pg_dump dumps (`pg_export_snapshot()`
handed to `pg_dump --snapshot`): rows per table, the bootstrap ledger, the archive catalogue and
where its Parquet files are, a fingerprint of every mart, and the roles, database privileges
and settings a restore onto another server needs (a dump of one database does not carry them).
The dump is written under a temporary name and renamed when pg_dump succeeded; the manifest is
written last, so a backup without a manifest is an unfinished one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mcp_analytics import __version__
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse import inventory
from mcp_analytics.warehouse.bootstrap import LEDGER
from mcp_analytics.warehouse.inventory import Inventory, MartFingerprint, RoleRef
from mcp_analytics.warehouse.pgtools import PgTool, PgToolError, find_tool, server_major
from mcp_analytics.warehouse.report import MetadataValue, Total, text_table

Mode = Literal["full", "schema-only", "data-only"]
MODES: tuple[Mode, ...] = ("full", "schema-only", "data-only")
FORMAT = "mcp-analytics-backup/1"
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
#: gzip: the one method every pg_dump/pg_restore build supports (the embedded wheel's has
#: neither lz4 nor zstd).
COMPRESSION = "gzip:6"
#: How long pg_dump waits for a table lock before giving up (a long DDL would stall it).
LOCK_WAIT_TIMEOUT = "10min"


class BackupError(RuntimeError):
    """A backup could not be written; nothing was left under the backup's name."""


@dataclass
class Manifest:
    """What `<name>.manifest.json` records about `<name>.dump` (see the module docstring)."""

    created_at: str
    mode: Mode
    dump_file: str
    dump_bytes: int
    dump_sha256: str
    pg_dump_version: str
    pg_dump_major: int
    archive_dir: str | None
    inventory: Inventory
    compression: str = COMPRESSION
    mcp_analytics_version: str = __version__
    format: str = FORMAT

    @property
    def server_major(self) -> int:
        return server_major(self.inventory.server_version_num)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest.

        Raises:
            ValueError: not a manifest of this format (the message says what is wrong).
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not an mcp-analytics backup manifest (format {found!r})")
        inv = dict(data["inventory"])
        inv["roles"] = [RoleRef(**r) for r in inv.get("roles", [])]
        inv["marts"] = {k: MartFingerprint(**v) for k, v in inv.get("marts", {}).items()}
        data["inventory"] = Inventory(**inv)
        return cls(**data)


@dataclass(frozen=True)
class Backup:
    """A finished backup on disk: its dump, its manifest, and what the manifest says."""

    dump: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def bytes(self) -> int:
        """Size of the dump and the manifest together."""
        return self.dump.stat().st_size + self.manifest_path.stat().st_size

    @property
    def created_at(self) -> str:
        return self.manifest.created_at


@dataclass(frozen=True)
class BackupResult:
    """One backup written (`describe()` is what the CLI prints)."""

    backup: Backup
    pg_dump: PgTool
    seconds: float

    def describe(self) -> str:
        m = self.backup.manifest
        inv = m.inventory
        rows = sum(inv.row_counts.values())
        lines = [
            f"wrote {self.backup.dump} ({human_bytes(m.dump_bytes)}, {m.mode}, {m.compression})",
            f"wrote {self.backup.manifest_path} (manifest: {len(inv.row_counts)} tables,"
            f" {rows:,} rows, {len(inv.ledger)} bootstrap files, {len(inv.archive_catalog)}"
            f" archive catalogue entries, {len(inv.marts)} marts)",
            f"PostgreSQL {inv.server_version} dumped by {self.pg_dump} in {self.seconds:.1f} s",
        ]
        missing = [f["path"] for f in inv.archive_files if not f["exists"]]
        if inv.archive_files:
            lines.append(
                f"archive files: {len(inv.archive_files)} named by the catalogue under"
                f" {m.archive_dir} (not in the dump: back them up with that folder)"
                + (f"; {len(missing)} missing now: {', '.join(missing)}" if missing else "")
            )
        return "\n".join(lines)


def human_bytes(n: int) -> str:
    """`n` bytes as B, KiB, MiB or GiB with one decimal."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def manifest_path(dump: Path) -> Path:
    """`x.dump` -> `x.manifest.json` (any other name gets the suffix appended)."""
    stem = dump.name[: -len(DUMP_SUFFIX)] if dump.name.endswith(DUMP_SUFFIX) else dump.name
    return dump.with_name(stem + MANIFEST_SUFFIX)


def read_backup(path: Path) -> Backup:
    """The backup whose dump (or manifest) is `path`.

    Raises:
        BackupError: the dump or its manifest is missing or unreadable.
    """
    if path.name.endswith(MANIFEST_SUFFIX):
        path = path.with_name(path.name[: -len(MANIFEST_SUFFIX)] + DUMP_SUFFIX)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise BackupError(
            f"{path} has no manifest ({mpath.name}): it is not a finished mcp-analytics backup"
            " (a backup writes its manifest last); restore it with pg_restore by hand"
        )
    try:
        manifest = Manifest.from_json(mpath.read_text())
    except (ValueError, KeyError, TypeError) as err:
        raise BackupError(f"{mpath}: unreadable manifest: {err}") from None
    return Backup(path, mpath, manifest)


def default_name(database: str, mode: Mode, now: datetime | None = None) -> str:
    """`<database>-<UTC time>[-schema-only|-data-only].dump`, sortable by time."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    suffix = "" if mode == "full" else f"-{mode}"
    return f"{database}-{stamp}{suffix}{DUMP_SUFFIX}"


def libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """(`--dbname` value without the password, environment with PGPASSWORD) for a client
    program: a password never appears on a command line (other users can read those)."""
    params = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    password = params.pop("password", None)
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10")}
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def run_client(tool: PgTool, args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    """Run a client program against `url` (password in the environment), capturing output."""
    dbname, env = libpq_args(url)
    return subprocess.run(
        [str(tool.path), *args, f"--dbname={dbname}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


#: pg_dump --verbose's line when it starts a table's rows: `dumping contents of table "s.t"`.
_DUMPING_TABLE = re.compile(r'^pg_dump: dumping contents of table "(?P<table>.+)"$')
#: pg_dump's own message kinds besides its --verbose chatter (kept for a failure's message).
_PG_DUMP_PROBLEM = re.compile(r"^pg_dump: (error|warning|detail|hint):", re.IGNORECASE)


def _dump_streaming(
    tool: PgTool, args: list[str], url: str, on_table: Callable[[str], None]
) -> tuple[int, str]:
    """Run pg_dump with --verbose against `url`, calling `on_table(schema.table)` as it
    starts each table's rows; returns (exit status, its messages other than the --verbose
    progress: what a failure shows)."""
    dbname, env = libpq_args(url)
    kept: list[str] = []
    recent: deque[str] = deque(maxlen=12)
    with subprocess.Popen(
        [str(tool.path), *args, "--verbose", f"--dbname={dbname}"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip("\n")
            recent.append(line)
            if found := _DUMPING_TABLE.match(line):
                on_table(found["table"])
            elif _PG_DUMP_PROBLEM.match(line) or not line.startswith("pg_dump: "):
                kept.append(line)
    return proc.returncode, "\n".join(kept or recent)


def tail(text: str, lines: int = 12) -> str:
    """The last `lines` lines of a program's output, redacted."""
    return redact_text("\n".join(text.strip().splitlines()[-lines:]))


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes (read 1 MiB at a time)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _free_name(directory: Path, database: str, mode: Mode) -> Path:
    """`default_name()` in `directory`, with `-2`, `-3`... when a backup of the same second
    is there already."""
    first = directory / default_name(database, mode)
    candidate, n = first, 1
    while candidate.exists() or manifest_path(candidate).exists():
        n += 1
        candidate = first.with_name(f"{first.name[: -len(DUMP_SUFFIX)]}-{n}{DUMP_SUFFIX}")
    return candidate


def _target(path: Path | None, directory: Path, database: str, mode: Mode) -> Path:
    if path is None:
        return _free_name(directory, database, mode)
    if path.is_dir():
        return _free_name(path, database, mode)
    if not path.name.endswith(DUMP_SUFFIX):
        return path.with_name(path.name + DUMP_SUFFIX)
    return path


def _check_folder(folder: Path) -> None:
    """Refuse a backup under a path through a file (mkdir would say only "File exists")."""
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise BackupError(
                    f"cannot write the backup in {folder}: {ancestor} is a file, not a folder"
                )
            return


def _pg_dump_args(
    tool: PgTool, snapshot: str, partial: Path, mode: Mode, superuser: bool
) -> list[str]:
    args = [
        "--format=custom",
        "--compress=6",  # gzip level 6, in every pg_dump's spelling
        f"--snapshot={snapshot}",
        f"--lock-wait-timeout={LOCK_WAIT_TIMEOUT}",
        "--no-password",
        f"--file={partial}",
    ]
    if mode == "schema-only":
        args.append("--schema-only")
    elif mode == "data-only":
        # Into the partitioned parents (rows go to whichever partitions the target has); not
        # the ledger, which a restore checks equal instead of overwriting.
        args += [
            "--data-only",
            "--load-via-partition-root",
            f"--exclude-table-data=public.{LEDGER}",
        ]
    if not superuser:
        # Forced row-level security applies to the owner: dump what the policies show it
        # (everything, for a member of mcp_admin) instead of failing.
        args.append("--enable-row-security")
    return args


def _dump_in_snapshot(
    conn: psycopg.Connection,
    url: str,
    path: Path | None,
    directory: Path,
    mode: Mode,
    prefer_embedded: bool,
    say: Callable[[str], None],
) -> tuple[PgTool, Path, Path, Inventory]:
    """Export the transaction's snapshot, take the inventory in it, and run pg_dump on it:
    (pg_dump used, final dump path, the finished dump under its temporary name, inventory).
    Each phase, and each table with rows as pg_dump starts it, is told to `say`."""
    version_num, database, superuser = conn.execute(
        "select current_setting('server_version_num')::int, current_database(),"
        " rolsuper or rolbypassrls from pg_roles where rolname = current_user"
    ).fetchone() or (0, "", False)
    try:
        tool = find_tool("pg_dump", server_major(version_num), prefer_embedded=prefer_embedded)
    except PgToolError as err:
        raise BackupError(str(err)) from None
    dump = _target(path, directory, database, mode)
    for existing in (dump, manifest_path(dump)):
        if existing.exists():
            raise BackupError(f"{existing} exists: give another name (backups are kept)")
    _check_folder(dump.parent)
    dump.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The inventory waits for table locks no longer than pg_dump does.
    conn.execute(f"set local lock_timeout = '{LOCK_WAIT_TIMEOUT}'")
    snapshot = conn.execute("select pg_export_snapshot()").fetchone()
    assert snapshot is not None
    say(f"reading the manifest's facts of {database} (rows per table, ledger, marts)")
    facts = inventory.take(conn, with_data=mode != "schema-only")
    partial = dump.with_name(dump.name + ".partial")
    args = _pg_dump_args(tool, snapshot[0], partial, mode, superuser)
    say(f"dumping {database} ({mode}) with {tool} into {dump}")
    rows = facts.row_counts
    shown: list[str] = []

    def on_table(table: str) -> None:
        # a table with rows gets its line; the many empty partitions only a count at the end
        if rows.get(table):
            say(f"  rows of {table} ({rows[table]:,})")
        shown.append(table)

    old_umask = os.umask(0o077)  # the dump holds telemetry and password hashes
    try:
        status, messages = _dump_streaming(tool, args, url, on_table)
    finally:
        os.umask(old_umask)
    if status != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump ({tool}) failed:\n{tail(messages)}")
    if shown:
        empty = sum(1 for t in shown if not rows.get(t))
        say(f"dumped the rows of {len(shown)} tables ({empty} of them empty)")
    return tool, dump, partial, facts


def backup(
    url: str,
    path: Path | None = None,
    *,
    directory: Path,
    mode: Mode = "full",
    archive_dir: Path | None = None,
    prefer_embedded: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> BackupResult:
    """Write a backup of the database of `url`.

    Args:
        url: libpq URL of the database (a role that can read every table: the admin URL).
        path: the dump file, or a folder for it; None: `directory`/`default_name()`. A name
            without `.dump` gets it; an existing backup is never overwritten.
        directory: where backups go when `path` is None (created, mode 0700).
        mode: `full`, `schema-only` or `data-only` (pg_dump's options of the same names;
            data-only loads through the partitioned parents, so a restore routes rows to the
            partitions the target has).
        archive_dir: the folder of the archive's Parquet files, recorded in the manifest.
        prefer_embedded: look at the embedded server's own pg_dump first.
        on_progress: called with one line per phase (facts, pg_dump, manifest) and per table
            with rows as pg_dump starts dumping it (from pg_dump --verbose).

    Returns:
        A BackupResult; the dump and its manifest exist when it returns.

    Raises:
        BackupError: no suitable pg_dump, pg_dump failed, the target exists or cannot be
            written (nothing is left under the backup's name).
    """
    if mode not in MODES:
        raise BackupError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    started = time.monotonic()
    say = on_progress or (lambda _line: None)
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as err:
        raise BackupError(f"cannot connect to the database: {redact_text(str(err))}") from None
    # One repeatable-read transaction: its snapshot is what pg_dump dumps and what the
    # manifest counts.
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    try:
        with conn:
            tool, dump, partial, facts = _dump_in_snapshot(
                conn, url, path, directory, mode, prefer_embedded, say
            )
    except psycopg.Error as err:
        raise BackupError(f"reading the database failed: {redact_text(str(err))}") from None
    except OSError as err:
        raise BackupError(f"cannot write the backup: {err}") from None
    mpath = manifest_path(dump)
    say(f"writing the manifest {mpath.name} (checksum of the dump)")
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        mode=mode,
        dump_file=dump.name,
        dump_bytes=partial.stat().st_size,
        dump_sha256=file_sha256(partial),
        pg_dump_version=tool.version,
        pg_dump_major=tool.major,
        archive_dir=str(archive_dir) if archive_dir else None,
        inventory=facts,
    )
    try:
        partial.replace(dump)
        tmp = mpath.with_name(mpath.name + ".partial")
        tmp.write_text(manifest.to_json())
        tmp.chmod(0o600)
        tmp.replace(mpath)
    except OSError as err:
        for leftover in (partial, dump, mpath.with_name(mpath.name + ".partial")):
            leftover.unlink(missing_ok=True)
        raise BackupError(f"cannot write the backup: {err}") from None
    return BackupResult(Backup(dump, mpath, manifest), tool, time.monotonic() - started)


def list_backups(directory: Path) -> list[Backup]:
    """The finished backups of `directory` (those with a readable manifest), oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for mpath in directory.glob(f"*{MANIFEST_SUFFIX}"):
        try:
            found.append(read_backup(mpath))
        except BackupError:
            continue
    return sorted(found, key=lambda b: (b.created_at, b.dump.name))


@dataclass(frozen=True)
class RotationReport:
    """The backup just written, what rotation removed and what it kept (newest last)."""

    written: BackupResult
    kept: tuple[Backup, ...]
    removed: tuple[Path, ...]

    kept_bytes = Total("bytes", over="kept")

    def describe(self) -> str:
        rows = [
            (b.dump.name, b.manifest.mode, human_bytes(b.bytes), b.created_at) for b in self.kept
        ]
        out = [self.written.describe(), ""]
        out += text_table(("backup", "mode", "size", "created (UTC)"), rows)
        out.append(
            f"kept {len(self.kept)} backup(s), {human_bytes(self.kept_bytes)} in all"
            + (f"; removed {', '.join(p.name for p in self.removed)}" if self.removed else "")
        )
        return "\n".join(out)

    def as_metadata(self) -> dict[str, MetadataValue]:
        """`backup_bytes`, `backup_seconds`, `backups_kept`, `backups_kept_bytes`,
        `backups_removed`, `rows_backed_up`, and `bytes/<backup name>` for every kept one."""
        m = self.written.backup.manifest
        metadata: dict[str, MetadataValue] = {
            "backup_path": str(self.written.backup.dump),
            "backup_bytes": m.dump_bytes,
            "backup_seconds": round(self.written.seconds, 1),
            "rows_backed_up": sum(m.inventory.row_counts.values()),
            "backups_kept": len(self.kept),
            "backups_kept_bytes": self.kept_bytes,
            "backups_removed": len(self.removed),
        }
        for b in self.kept:
            metadata[f"bytes/{b.dump.name}"] = b.bytes
        return metadata


def prune_backups(directory: Path, keep: int) -> tuple[list[Backup], list[Path]]:
    """Delete the oldest finished backups of `directory` beyond the newest `keep` (dump and
    manifest); files that are not finished backups are never touched.

    Returns:
        (kept backups oldest first, dump paths removed).

    Raises:
        ValueError: `keep` < 1.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    backups = list_backups(directory)
    doomed, kept = backups[:-keep], backups[-keep:]
    removed = []
    for b in doomed:
        b.dump.unlink(missing_ok=True)
        b.manifest_path.unlink(missing_ok=True)
        removed.append(b.dump)
    return kept, removed


def backup_and_rotate(
    url: str,
    directory: Path,
    keep: int,
    *,
    archive_dir: Path | None = None,
    prefer_embedded: bool = False,
) -> RotationReport:
    """A full backup into `directory`, then only the newest `keep` backups there are kept.

    Raises:
        BackupError: the backup failed (nothing is removed then).
        ValueError: `keep` < 1.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    written = backup(
        url, None, directory=directory, archive_dir=archive_dir, prefer_embedded=prefer_embedded
    )
    kept, removed = prune_backups(directory, keep)
    return RotationReport(written, tuple(kept), tuple(removed))

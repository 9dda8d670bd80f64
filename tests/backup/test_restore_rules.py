"""What backup and restore refuse, and what they do about roles, damage and partial modes:
real pg_dump/pg_restore on small databases (no dbt build here; test_backup_restore.py has it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse import backup as backup_module
from mcp_analytics.warehouse import inventory
from mcp_analytics.warehouse.backup import BackupError, backup, prune_backups
from mcp_analytics.warehouse.bootstrap import bootstrap
from mcp_analytics.warehouse.restore import RestoreError, restore
from tests.helpers.db import create_database, drop_database, scalar

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _load(url: str, tag: str = "t") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(hours=30), hours=24, calls=300,
                       requests=200, errors=50, metrics=80, tag=tag)  # fmt: skip


@pytest.fixture
def loaded_db(bootstrapped_db: str) -> str:
    _load(bootstrapped_db)
    return bootstrapped_db


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    """URL of a database that does not exist yet (restore creates it); dropped afterwards."""
    url = create_database(server_url)
    drop_database(url)
    yield url
    drop_database(url)


def _facts(url: str) -> inventory.Inventory:
    with psycopg.connect(url, autocommit=True) as conn:
        return inventory.take(conn)


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    loaded_db: str, bootstrapped_db: str, tmp_path: Path
):
    dump = backup(loaded_db, tmp_path / "b.dump", directory=tmp_path).backup.dump
    before = _facts(loaded_db)
    # the target already holds the schema (and its own rows)
    with psycopg.connect(loaded_db, autocommit=True) as conn:
        conn.execute("delete from error_logs where id % 2 = 0")
    with pytest.raises(RestoreError, match=r"is not empty \(\d+ objects, e\.g\. ") as err:
        restore(loaded_db, dump, build=False)
    assert "--force" in str(err.value)
    assert _facts(loaded_db).row_counts != before.row_counts  # untouched by the refusal
    report = restore(loaded_db, dump, force=True, build=False)
    assert report.ok, report.describe()
    assert _facts(loaded_db).row_counts == before.row_counts


def test_a_damaged_dump_is_refused_before_anything_is_touched(
    loaded_db: str, fresh_url: str, tmp_path: Path
):
    dump = backup(loaded_db, tmp_path / "b.dump", directory=tmp_path).backup.dump
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(RestoreError, match="does not match the checksum its manifest recorded"):
        restore(fresh_url, dump, build=False)
    dump.with_name("b.manifest.json").unlink()
    with pytest.raises(RestoreError, match="has no manifest"):
        restore(fresh_url, dump, build=False)


def _backup_then_drop(url: str, server_url: str, folder: Path, role: str) -> Path:
    """A backup of `url` into `folder`, then the database and `role` dropped: a server that
    has never seen that role. Returns the dump."""
    dump = backup(url, folder / f"{role}.dump", directory=folder).backup.dump
    drop_database(url)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    return dump


def test_missing_group_roles_are_created_and_missing_logins_named(server_url: str, tmp_path: Path):
    suffix = uuid.uuid4().hex[:8]
    group, login = f"mcpa_t_group_{suffix}", f"mcpa_t_login_{suffix}"
    url = create_database(server_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table readings (id int primary key, v text)")
            conn.execute("insert into readings values (1, 'a'), (2, 'b')")
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(group)))
            conn.execute(
                sql.SQL("comment on role {} is 'a group role of the test'").format(
                    sql.Identifier(group)
                )
            )
            conn.execute(sql.SQL("grant select on readings to {}").format(sql.Identifier(group)))
            conn.execute(sql.SQL("grant pg_read_all_stats to {}").format(sql.Identifier(group)))
        group_dump = _backup_then_drop(url, server_url, tmp_path, group)
        report = restore(url, group_dump, build=False)
        assert report.ok, report.describe()
        assert f"created role {group} (nologin, as in the backup)" in report.notes
        assert scalar(url, "select has_table_privilege(%s, 'readings', 'select')", (group,))
        assert scalar(url, "select count(*) from readings") == 2
        assert (
            scalar(
                url,
                "select shobj_description(oid, 'pg_authid') from pg_roles where rolname = %s",
                (group,),
            )  # fmt: skip
            == "a group role of the test"
        )
        assert not scalar(url, "select rolcanlogin from pg_roles where rolname = %s", (group,))

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(login)))
            conn.execute(sql.SQL("grant select on readings to {}").format(sql.Identifier(login)))
        login_dump = _backup_then_drop(url, server_url, tmp_path, login)
        with pytest.raises(RestoreError, match=f"login role\\(s\\) this server lacks: {login}"):
            restore(url, login_dump, build=False)
        # nothing was restored: the refusal came before pg_restore
        assert scalar(url, "select to_regclass('public.readings')") is None
    finally:
        drop_database(url)
        with psycopg.connect(server_url, autocommit=True) as conn:
            for role in (group, login):
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_schema_only_then_data_only_make_the_whole_database(
    loaded_db: str, fresh_url: str, tmp_path: Path
):
    schema = backup(loaded_db, tmp_path, directory=tmp_path, mode="schema-only").backup
    data = backup(loaded_db, tmp_path, directory=tmp_path, mode="data-only").backup
    assert schema.dump.name.endswith("-schema-only.dump")
    assert data.dump.name.endswith("-data-only.dump")
    assert schema.manifest.inventory.row_counts == {}  # nothing to count in a schema
    before = _facts(loaded_db)

    # rows first: refused, the target has no schema at that ledger
    with pytest.raises(RestoreError, match="needs a database with the bootstrap ledger"):
        restore(fresh_url, data.dump, build=False)
    report = restore(fresh_url, schema.dump, build=False)
    assert report.ok and [c.name for c in report.checks] == ["bootstrap ledger"]
    assert scalar(fresh_url, "select count(*) from tool_usage_logs") == 0
    # the ledger came with it: bootstrap has nothing to apply
    assert _facts(fresh_url).ledger == before.ledger
    report = restore(fresh_url, data.dump, build=False)
    assert report.ok, report.describe()
    after = _facts(fresh_url)
    assert after.row_counts == before.row_counts
    assert after.marts == before.marts

    # a second data-only restore would mix rows into the ones there: refused unless forced
    with pytest.raises(RestoreError, match="already holds data in public.tool_usage_logs"):
        restore(fresh_url, data.dump, build=False)
    assert restore(fresh_url, data.dump, force=True, build=False).ok
    assert _facts(fresh_url).row_counts == before.row_counts


def test_backup_fails_cleanly_when_a_table_stays_locked(
    loaded_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(backup_module, "LOCK_WAIT_TIMEOUT", "1s")
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with psycopg.connect(loaded_db) as conn:
            conn.execute("lock table error_logs in access exclusive mode")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(BackupError, match="lock"):
            backup(loaded_db, tmp_path / "b.dump", directory=tmp_path)
    finally:
        release.set()
        holder.join()
    assert list(tmp_path.iterdir()) == []  # no dump, no partial, no manifest


def test_an_existing_backup_is_never_overwritten(loaded_db: str, tmp_path: Path):
    first = backup(loaded_db, tmp_path / "b.dump", directory=tmp_path).backup
    with pytest.raises(BackupError, match="exists: give another name"):
        backup(loaded_db, tmp_path / "b", directory=tmp_path)
    assert first.dump.read_bytes()[:5] == b"PGDMP"


def test_rotation_keeps_the_newest_and_touches_nothing_else(loaded_db: str, tmp_path: Path):
    made = []
    for name in ("a", "b", "c"):
        made.append(backup(loaded_db, tmp_path / f"{name}.dump", directory=tmp_path).backup)
    stray = tmp_path / "notes.dump"
    stray.write_text("not a backup")
    kept, removed = prune_backups(tmp_path, 2)
    assert [b.dump.name for b in kept] == ["b.dump", "c.dump"]
    assert removed == [made[0].dump]
    assert not made[0].dump.exists() and not made[0].manifest_path.exists()
    assert stray.exists()
    with pytest.raises(ValueError, match="at least 1"):
        prune_backups(tmp_path, 0)


def test_an_older_backup_under_a_newer_install_says_to_bootstrap_instead_of_building(
    server_url: str, fresh_url: str, tmp_path: Path
):
    """A backup taken before the newest bootstrap file: restored as it was, then the report
    names the newer files and does not run a build this install's models may need them for."""
    older = tmp_path / "bootstrap_sql"
    older.mkdir()
    files = sorted(settings().bootstrap_dir.glob("*.sql"))
    for f in files[:-1]:
        (older / f.name).write_text(f.read_text())
    url = create_database(server_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, older)
        dump = backup(url, tmp_path / "old.dump", directory=tmp_path).backup.dump
    finally:
        drop_database(url)
    report = restore(fresh_url, dump, build=True)
    assert report.ok
    build = next(c for c in report.checks if c.name == "dbt build")
    assert build.skipped and "run `mcp-analytics bootstrap`" in build.detail
    assert any(files[-1].name in note for note in report.notes)
    assert "skip  dbt build: not run" in report.describe()
    # restored as it was: the newest file is not applied
    assert [name for name, _ in _facts(fresh_url).ledger] == [f.name for f in files[:-1]]

"""Applied bootstrap files revised before the first release end in the state their earlier texts
made (bootstrap.EARLIER_REVISIONS).

A warehouse may have been bootstrapped at any commit of the repository's history: its ledger
holds the files as they were then. For every commit that changed bootstrap_sql/ (read from the
project's own git history), a database is bootstrapped with the files as of that commit, then
with the current files on top (its earlier checksums must be accepted), and compared with one
bootstrapped with the current files only: their catalogues (pg_dump's schema: tables, columns,
indexes, constraints, triggers, policies, views, functions, grants, partitions, comments) and
the rows the bootstrap seeds must be the same. A database from a commit whose text of some file
is neither the current one nor listed must be refused, and left as it was.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.warehouse.bootstrap import EARLIER_REVISIONS, BootstrapError, bootstrap, discover
from tests.helpers.db import create_database, drop_database

from .catalog_state import schema_objects, seeded_rows

State = tuple[list[str], dict[str, list[str]]]


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(settings().project_dir), *args], capture_output=True, check=False
    )


def _history() -> list[str]:
    """Every commit that changed bootstrap_sql/, newest first; none outside a git checkout."""
    found = _git("log", "--format=%H", "--", "bootstrap_sql/")
    return found.stdout.decode().split() if found.returncode == 0 else []


COMMITS = _history()


def _state(url: str) -> State:
    """The database's catalogue (pg_dump's objects) and the rows of its non-empty tables."""
    return schema_objects(url), seeded_rows(url)


def _differences(left: State, right: State) -> list[str]:
    """What one database's catalogue or seeded rows hold that the other's do not."""
    (a, rows_a), (b, rows_b) = left, right
    differ = [f"only in the first:\n{o}" for o in a if o not in b]
    differ += [f"only in the second:\n{o}" for o in b if o not in a]
    differ += [
        f"rows of {t} differ"
        for t in sorted(rows_a.keys() | rows_b.keys())
        if rows_a.get(t) != rows_b.get(t)
    ]
    return differ


def _files_at(commit: str, folder: Path) -> Path:
    """bootstrap_sql/ as it was at `commit`, written to `folder`."""
    names = _git("ls-tree", "--name-only", commit, "bootstrap_sql/")
    assert names.returncode == 0, names.stderr.decode()
    folder.mkdir()
    for name in names.stdout.decode().split():
        text = _git("show", f"{commit}:{name}")
        assert text.returncode == 0, text.stderr.decode()
        (folder / Path(name).name).write_bytes(text.stdout)
    return folder


@pytest.fixture(scope="module")
def current_state(server_url: str) -> Iterator[State]:
    """The catalogue and seeded rows of a database bootstrapped with the current files only."""
    url = create_database(server_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        yield _state(url)
    finally:
        drop_database(url)


@pytest.mark.slow
@pytest.mark.parametrize(
    "commit",
    [pytest.param(c, id=c[:7]) for c in COMMITS]
    or [pytest.param("", marks=pytest.mark.skip(reason="needs the project's git history"))],
)
def test_a_warehouse_bootstrapped_at_any_commit_upgrades_to_the_current_state(
    commit: str, current_state: State, empty_db: str, tmp_path: Path
) -> None:
    old = _files_at(commit, tmp_path / "bootstrap_sql")
    current = {m.name: m.checksum for m in discover(settings().bootstrap_dir)}
    unlisted = [
        m.name
        for m in discover(old)
        if m.checksum != current.get(m.name) and m.checksum not in EARLIER_REVISIONS.get(m.name, ())
    ]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        bootstrap(conn, old)
        if unlisted:
            # A text edited in the first days that does not end in the current state (checked
            # when it was left out of EARLIER_REVISIONS): such a database is refused, untouched.
            before = _state(empty_db)
            with pytest.raises(BootstrapError, match=unlisted[0]):
                bootstrap(conn, settings().bootstrap_dir)
            assert _differences(_state(empty_db), before) == []
            return
        bootstrap(conn, settings().bootstrap_dir)
    assert _differences(_state(empty_db), current_state) == []


def test_a_changed_function_body_is_a_difference(module_db: str, bootstrapped_db: str) -> None:
    # The comparison is not blind to what the bootstrap defines: one function's body differs.
    first, second = module_db, bootstrapped_db
    with psycopg.connect(second, autocommit=True) as conn:
        source = conn.execute(
            "select pg_get_functiondef("
            "'public.mart_mark_dirty(text, timestamptz, timestamptz)'::regprocedure)"
        ).fetchone()[0]
        conn.execute(source.replace("interval '1 hour'", "interval '2 hours'"))
    differences = _differences(_state(first), _state(second))
    assert len(differences) == 2, differences
    assert all("mart_mark_dirty" in d for d in differences)

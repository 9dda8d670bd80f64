"""Applied bootstrap files revised before the first release end in the state their earlier texts
made (bootstrap.EARLIER_REVISIONS).

One database is bootstrapped with the files as they were before the revisions (read from the
repository's own history), then with the current files on top: its ledger holds the earlier
checksums, which must be accepted. Another is bootstrapped with the current files only. Their
catalogues (pg_dump's schema, the grants, the seeded configuration rows) must be the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from mcp_analytics.config import settings
from mcp_analytics.warehouse.bootstrap import EARLIER_REVISIONS, LEDGER, Migration, bootstrap

from .catalog_state import schema_objects, seeded_rows

#: The last commit before the bootstrap files were revised to share their repeated code: every
#: file then had the text databases bootstrapped until then recorded in their ledgers.
BEFORE_REVISIONS = "16e3f3e1dd8ca3cf135f8ad6283b6c364fefd55e"


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(settings().project_dir), *args], capture_output=True, check=False
    )


@pytest.fixture(scope="module")
def files_before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bootstrap_sql/ as it was at BEFORE_REVISIONS, written to a folder."""
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("needs the project's git history (a checkout, not an installed package)")
    names = _git("ls-tree", "--name-only", BEFORE_REVISIONS, "bootstrap_sql/")
    assert names.returncode == 0, (
        f"commit {BEFORE_REVISIONS} is not in this checkout ({names.stderr.decode().strip()}):"
        " a shallow clone? `git fetch --unshallow`"
    )
    folder = tmp_path_factory.mktemp("before_revisions")
    for name in names.stdout.decode().split():
        text = _git("show", f"{BEFORE_REVISIONS}:{name}")
        assert text.returncode == 0, text.stderr.decode()
        (folder / Path(name).name).write_bytes(text.stdout)
    return folder


def _differences(left: str, right: str) -> list[str]:
    """What one database's catalogue or seeded rows hold that the other's do not."""
    a, b = schema_objects(left), schema_objects(right)
    differ = [f"only in the first:\n{o}" for o in a if o not in b]
    differ += [f"only in the second:\n{o}" for o in b if o not in a]
    rows_a, rows_b = seeded_rows(left), seeded_rows(right)
    differ += [
        f"rows of {t} differ"
        for t in sorted(rows_a.keys() | rows_b.keys())
        if rows_a.get(t) != rows_b.get(t)
    ]
    return differ


def test_revised_files_end_in_the_state_of_their_earlier_texts(
    files_before: Path, empty_db: str, bootstrapped_db: str
) -> None:
    # bootstrapped_db: the current files only.
    upgraded, fresh = empty_db, bootstrapped_db
    current = settings().bootstrap_dir
    revised = sorted(
        path.name
        for path in files_before.glob("*.sql")
        if path.read_text() != (current / path.name).read_text()
    )
    # Every revised file's earlier text is one the ledger accepts.
    for name in revised:
        old = Migration(name, files_before / name, (files_before / name).read_text())
        assert old.checksum in EARLIER_REVISIONS.get(name, ()), f"{name}: earlier text not listed"

    with psycopg.connect(upgraded, autocommit=True) as conn:
        bootstrap(conn, files_before)
        result = bootstrap(conn, current)
        assert set(result.already_applied) >= set(revised)
        old_rows = dict(conn.execute(f"select filename, checksum from {LEDGER}").fetchall())
    # The ledger still says which text ran: the earlier one.
    assert all(old_rows[name].strip() in EARLIER_REVISIONS[name] for name in revised)

    assert _differences(upgraded, fresh) == []


def test_a_changed_function_body_is_a_difference(module_db: str, bootstrapped_db: str) -> None:
    # The comparison is not blind to what the bootstrap defines: one function's body differs.
    first, second = module_db, bootstrapped_db
    with psycopg.connect(second, autocommit=True) as conn:
        source = conn.execute(
            "select pg_get_functiondef("
            "'public.mart_mark_dirty(text, timestamptz, timestamptz)'::regprocedure)"
        ).fetchone()[0]
        conn.execute(source.replace("interval '1 hour'", "interval '2 hours'"))
    differences = _differences(first, second)
    assert len(differences) == 2, differences
    assert all("mart_mark_dirty" in d for d in differences)

"""The upgrade to packed histograms (bootstrap_sql/105 and later) on a warehouse built before it.

The old warehouse is made from the repository itself: the bootstrap files and the dbt project
as they were in the commit before 105 was added (`git archive`), with raw rows and every mart
built by that project. The current bootstrap then upgrades it (105 adds the new columns and
marks every hour dirty; 120 gives the release summary its packed column) and the current
project builds it again: no error, every exactness check passes over the whole history, and each
mart holds what a fresh run of the same raw rows holds.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.demo.synthetic import load_synthetic
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.helpers.db import create_database, drop_database

from .project_copy import copy_project, output, run_in

pytestmark = pytest.mark.slow

ADDED = "bootstrap_sql/105_packed_histograms.sql"
FULL = json.dumps({"mart_exactness_scope": "full"})
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
#: Columns stamped by the build itself, not derived from the raw rows.
STAMPS = {"refreshed_at", "updated_at", "built_at", "last_rebuilt_at", "dbt_updated_at"}


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(settings().project_dir), *args], capture_output=True, check=False
    )


@pytest.fixture(scope="module")
def before_105(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bootstrap_sql/ and dbt_project/ of the last commit without 105, extracted to a folder."""
    added = _git("log", "-1", "--format=%H", "--diff-filter=A", "HEAD", "--", ADDED)
    if added.returncode != 0 or not added.stdout.strip():
        pytest.skip("needs the project's git history (a checkout, not an installed package)")
    archive = _git("archive", f"{added.stdout.decode().strip()}^", "bootstrap_sql", "dbt_project")
    assert archive.returncode == 0, archive.stderr.decode()
    folder = tmp_path_factory.mktemp("before_105")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    assert not (folder / ADDED).exists()
    return folder


@pytest.fixture
def two_databases(server_url: str):
    """Two new, empty databases (the upgraded one, the fresh one), dropped afterwards."""
    urls = [create_database(server_url), create_database(server_url)]
    try:
        yield urls
    finally:
        for url in urls:
            drop_database(url)


def _load(url: str) -> None:
    """The same raw rows in every database: 2 days of seeded synthetic telemetry."""
    with psycopg.connect(url, autocommit=True) as conn:
        load_synthetic(conn, start=NOW - timedelta(days=2), hours=48, calls=2000, seed=0.3)


def _marts(url: str) -> dict[str, list[tuple]]:
    """Every table of schema analytics that dbt built, its rows sorted, build stamps left out."""
    found: dict[str, list[tuple]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "select c.relname, array_agg(a.attname::text order by a.attnum)"
            " from pg_class as c join pg_attribute as a on a.attrelid = c.oid"
            " where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p')"
            " and a.attnum > 0 and not a.attisdropped group by c.relname"
        ).fetchall()
        for table, columns in tables:
            kept = [sql.Identifier(c) for c in sorted(columns) if c not in STAMPS]
            query = sql.SQL("select {} from analytics.{}").format(
                sql.SQL(", ").join(kept), sql.Identifier(table)
            )
            found[table] = sorted(map(repr, conn.execute(query).fetchall()))
    return found


# Three runs of the whole dbt project (the old one, the upgrade with every check, the fresh one).
@pytest.mark.timeout(1800)
def test_a_warehouse_built_before_105_upgrades_to_exact_marts(before_105, two_databases, tmp_path):
    upgraded, fresh = two_databases
    with psycopg.connect(upgraded, autocommit=True) as conn:
        bootstrap(conn, before_105 / "bootstrap_sql")
    _load(upgraded)
    old = run_in(before_105 / "dbt_project", upgraded, "run")
    assert old.returncode == 0, output(old)

    with psycopg.connect(upgraded, autocommit=True) as conn:
        applied = bootstrap(conn, settings().bootstrap_dir)
    assert any(name.startswith("105") for name in applied.applied), applied
    project = copy_project(tmp_path / "dbt_project")
    new = run_in(project, upgraded, "build", "--vars", FULL)
    assert new.returncode == 0, output(new)

    with psycopg.connect(fresh, autocommit=True) as conn:
        bootstrap(conn, settings().bootstrap_dir)
    _load(fresh)
    built = run_in(project, fresh, "run", target=tmp_path / "fresh_target")
    assert built.returncode == 0, output(built)
    after, expected = _marts(upgraded), _marts(fresh)
    assert after.keys() == expected.keys()
    for table in expected:
        assert after[table] == expected[table], table

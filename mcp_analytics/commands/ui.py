"""`mcp-analytics ui [--port 3000] [--host 127.0.0.1]`: the Dagster webserver and daemon.

Runs `dagster dev -m mcp_analytics.orchestration.definitions` on the project's database with the
persistent DAGSTER_HOME of settings().dagster_home, in its own process group, and stops that
whole group on Ctrl-C or SIGTERM (first gracefully, then by force).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mcp_analytics.cli import CommandError
from mcp_analytics.config import settings
from mcp_analytics.extras import MissingExtraError, require_warehouse
from mcp_analytics.ingest.redaction import redact_url

GRACE_SECONDS = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ui", help="start the Dagster UI and daemon (Ctrl-C stops both)")
    parser.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.set_defaults(func=handler)


def _reset_signals() -> None:
    # A child of a background job in a non-interactive shell inherits SIGINT ignored, and
    # `dagster dev` would then never stop: give it the default dispositions back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(proc: subprocess.Popen) -> int:
    """Stop `dagster dev` and everything it started (its process group)."""
    pgid = proc.pid  # start_new_session: the group id is the child's pid
    for sig, wait in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGTERM, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Leftovers (webserver, daemon, code server) die with the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return proc.wait()


def handler(args: argparse.Namespace) -> int:
    try:
        require_warehouse("`mcp-analytics ui`", ("dagster", "dagster_dbt", "dagster_webserver"))
    except MissingExtraError as err:
        raise CommandError(str(err)) from None

    from mcp_analytics.dbt.env import DbtNotFoundError
    from mcp_analytics.dbt.manifest import ManifestError, ensure_manifest
    from mcp_analytics.orchestration.lib.home import prepare_home
    from mcp_analytics.warehouse import db

    cfg = settings()
    url = db.database_url()
    try:
        # Parsed here once, so that the webserver and the daemon load the code location fast.
        ensure_manifest()
    except (ManifestError, DbtNotFoundError) as err:
        raise CommandError(str(err)) from None
    env = {**os.environ, **prepare_home(url)}
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [
        str(dagster) if dagster.exists() else "dagster",
        "dev",
        "-m",
        "mcp_analytics.orchestration.definitions",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    print(f"Dagster UI on http://{args.host}:{args.port} (database {redact_url(url)},")
    print(f"DAGSTER_HOME {env['DAGSTER_HOME']}); Ctrl-C stops it.", flush=True)
    # The state folder as working directory: never the checkout or the installed package.
    proc = subprocess.Popen(
        cmd, cwd=cfg.state_dir, env=env, start_new_session=True, preexec_fn=_reset_signals
    )
    stopping = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while proc.poll() is None and not stopping["signal"]:
            time.sleep(0.2)
        if stopping["signal"]:
            print("stopping the Dagster UI and daemon...", flush=True)
            _stop(proc)
            return 0
        # dagster dev exited by itself: make sure nothing of its group lingers.
        code = proc.returncode
        _stop(proc)
        return code
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

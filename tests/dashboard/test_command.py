"""`mcp-analytics dashboard` as a user runs it: the real command on a free port, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.web import free_port

#: the installed console script, as a user runs it
CLI = [str(Path(sys.executable).with_name("mcp-analytics"))]


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_the_command_serves_the_dashboard_and_stops_on_ctrl_c(bootstrapped_db: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": bootstrapped_db}
    env.pop("MCPA_ANALYST_URL", None)
    proc = subprocess.Popen(
        [*CLI, "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).parent,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, headers, body = _get(f"http://127.0.0.1:{port}/login")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert "Sign in" in body and "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "server" not in {k.lower() for k in headers}  # no version banner
        status, _, _ = _get(f"http://127.0.0.1:{port}/static/vendor/htmx.min.js")
        assert status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        output = proc.stdout.read()
        assert f"dashboard on http://127.0.0.1:{port}" in output
        # the URL is printed, never a password (the embedded server has none; check the shape)
        assert "marts read as" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_command_refuses_half_a_tls_setup() -> None:
    proc = subprocess.run(
        [*CLI, "dashboard", "--ssl-certfile", "cert.pem"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "--ssl-certfile and --ssl-keyfile go together" in proc.stderr
    assert "Traceback" not in proc.stderr

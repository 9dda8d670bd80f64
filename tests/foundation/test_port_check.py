"""`dashboard`, `metrics serve` and `otlp serve` on a port another process holds: one clear
line (exit 2), no banner first and no uvicorn traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("mcp-analytics"))


@pytest.fixture
def held_port():
    """A port on 127.0.0.1 bound and listening for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "command", [["dashboard"], ["metrics", "serve"], ["otlp", "serve"]], ids=" ".join
)
def test_a_port_in_use_is_one_clear_error(held_port: int, command: list[str]) -> None:
    done = subprocess.run(
        [CLI, *command, "--host", "127.0.0.1", "--port", str(held_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == "", done.stdout  # no "serving on" banner first
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {held_port} on 127.0.0.1 is in use: pick another with --port" in lines[0]


def test_a_free_port_passes_the_check() -> None:
    from mcp_analytics.port_check import ensure_port_free

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ensure_port_free("127.0.0.1", port)  # raises if it cannot listen there

"""`inventory snapshot --command` with a command that cannot serve, run as a user runs it (the
CLI in its own process): the error names what happened and what to check, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("mcp-analytics"))


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("no-such-program-mcpa --stdio", ("FileNotFoundError", "check --command")),
        (f"{sys.executable} -c pass", ("Connection closed", "run it by hand")),
    ],
)
def test_a_command_that_cannot_serve_says_what_to_check(bootstrapped_db, tmp_path, command, says):
    env = {**os.environ, "DATABASE_URL": bootstrapped_db, "MCPA_STATE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [CLI, "inventory", "snapshot", "--command", command, "--timeout", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    (line,) = [text for text in proc.stderr.splitlines() if text.startswith("mcp-analytics:")]
    assert f"inventory snapshot of {command}:" in line and all(s in line for s in says), line
    assert "Traceback" not in proc.stderr, proc.stderr

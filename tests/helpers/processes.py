"""Processes in tests: the tree below a pid, from /proc (Linux), for tests that must leave no
process; a command run for the JSON it prints last."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children, ...), zombies included."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        fields = _stat(name) if name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not reaped, counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def run_json(
    argv: list[str], *, cwd: str | os.PathLike[str] | None = None, timeout: float = 180
) -> Any:
    """Run `argv` to its end and return its last line of output read as JSON (what the emitter
    scripts print last). Fails the test, with the end of stderr, when the command fails."""
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

"""dbt's partial parsing across invocations that each write to their own target folder.

dbt re-reads only the changed files of a project when it finds the state of its last parse
(`partial_parse.msgpack`) and that state was saved under the same profile coordinates
(host, port, user, dbname, sslmode...), the same `--vars`, `--profile` and `--target`; else it
logs "Unable to do partial parsing because profile has changed" (or "config vars ... have
changed") and parses the whole project again: ~10-20 s of this project's 150 nodes.

Every invocation of ours has a target folder of its own (parallel runs, one per test database
or Dagster step, must not overwrite each other's artifacts), so the state dbt writes there
is lost with the folder; the copy that used to seed a new folder came from `dbt parse` of the
manifest, which renders the profile with the offline coordinates (`offline_url()`), never the
ones of a run (and dagster-dbt seeds an empty folder with that same copy). So the state is
kept here, one file per profile and vars (`settings().dbt_target_dir/partial_parse/<key>.msgpack`):
it is copied into the invocation's target folder before dbt starts, and what is there when
dbt is done (dbt's new state, or the copy when dbt found nothing to re-parse and wrote none)
replaces it atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_analytics.config import settings

#: The file dbt reads and writes in its target folder.
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
#: What dbt hashes into its state check and we set: the profile's coordinates (no password:
#: dbt leaves it out too) and the project.
_KEYED_ENV = (
    "MCPA_PG_HOST",
    "MCPA_PG_PORT",
    "MCPA_PG_USER",
    "MCPA_PG_DBNAME",
    "MCPA_PG_SSLMODE",
    "DBT_PROJECT_DIR",
)
_KEYED_FLAGS = ("--vars", "--profile", "--target", "-t")
#: States kept (the ones used last): a few databases and vars each.
KEEP = 16


@dataclass(frozen=True)
class ParseState:
    """The kept state for one invocation: `path` (may not exist yet), `started` (epoch s)."""

    path: Path
    started: float

    def keep(self, target_path: Path) -> bool:
        """Replace the kept state by what this invocation's dbt wrote in `target_path`, if it
        wrote one. Returns whether it did. Never raises on a missing or unreadable file."""
        written = target_path / PARTIAL_PARSE_FILE
        try:
            if written.stat().st_mtime < self.started - 1:
                return False  # left by an earlier invocation in a shared folder
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(written.read_bytes())
            os.replace(tmp, self.path)
            _prune(self.path.parent)
        except OSError:
            return False
        return True


def _prune(folder: Path) -> None:
    """Keep the `KEEP` states used last (one per test database would pile up otherwise); one
    used in the last 10 minutes stays anyway (a dbt about to read it must find it)."""
    states = sorted(folder.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in states[KEEP:]:
        if stale.stat().st_mtime < time.time() - 600:
            stale.unlink(missing_ok=True)


def _flag_values(args: Sequence[str]) -> list[str]:
    """The values of the flags that dbt hashes into its state check, in order."""
    found = []
    for i, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name in _KEYED_FLAGS:
            found.append(f"{name}={value or (args[i + 1] if i + 1 < len(args) else '')}")
    return found


def parse_state_path(env: MutableMapping[str, str], args: Sequence[str]) -> Path:
    """Where the state of a dbt invocation with environment `env` and arguments `args` is kept."""
    facts = [env.get(name, "") for name in _KEYED_ENV] + _flag_values(args)
    key = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:20]
    return settings().dbt_target_dir / "partial_parse" / f"{key}.msgpack"


def reuse_parse(
    env: MutableMapping[str, str], args: Sequence[str], target_path: Path
) -> ParseState:
    """Put the kept state for a dbt process with `env` and `args` in its `target_path`, when
    there is one. Call `keep(target_path)` on the result once dbt has exited."""
    state = ParseState(parse_state_path(env, args), time.time())
    with contextlib.suppress(OSError):  # absent, or pruned by another process meanwhile
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state.path, target_path / PARTIAL_PARSE_FILE)
        os.utime(state.path)  # used now: pruned last
    return state

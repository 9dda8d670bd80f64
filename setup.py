"""Build step (metadata lives in pyproject.toml): ship the SQL and dbt project in the wheel.

bootstrap_sql/ and dbt_project/ stay at the repository root, where analysts run dbt; a wheel
carries a copy under mcp_analytics/_project/, which `mcp_analytics.config` uses when there is
no checkout. What dbt generates (target/, logs/, dbt_packages/) is left out. An editable
install reads the checkout itself, so it copies nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FOLDERS = ("bootstrap_sql", "dbt_project")
GENERATED = shutil.ignore_patterns(
    "target", "logs", "dbt_packages", ".user.yml", "__pycache__", "*.pyc"
)


class BuildWithProject(build_py):
    """`build_py`, then the project folders copied into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        destination = Path(self.build_lib) / "mcp_analytics" / "_project"
        for name in PROJECT_FOLDERS:
            shutil.rmtree(destination / name, ignore_errors=True)
            shutil.copytree(ROOT / name, destination / name, ignore=GENERATED)


setup(cmdclass={"build_py": BuildWithProject})

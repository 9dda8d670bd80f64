"""dbt run for real on a test database, its artifacts in a folder of the test's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from mcp_analytics.dbt.runner import run_dbt, run_results


@dataclass
class DbtWarehouse:
    """A test database (`url`) and the target folder of the dbt runs on it (`target`; dbt's
    log goes to its `logs` folder)."""

    url: str
    target: Path
    #: dbt's standard output of the last run (its messages, for tests of a failing build)
    last_output: str = field(default="", init=False)

    def dbt(self, *args: str, expect_ok: bool = True) -> dict:
        """Run `dbt <args>`; returns run_results.json ({} when dbt wrote none), asserting the
        exit status is 0 (or, with `expect_ok` false, that it is not)."""
        proc = run_dbt(
            list(args),
            url=self.url,
            target_path=self.target,
            log_path=self.target / "logs",
            capture=True,
        )
        if expect_ok:
            assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        else:
            assert proc.returncode != 0, proc.stdout[-3000:]
        self.last_output = proc.stdout
        return run_results(self.target) if (self.target / "run_results.json").exists() else {}

    def connect(self) -> psycopg.Connection:
        """An autocommit connection to the database."""
        return psycopg.connect(self.url, autocommit=True)

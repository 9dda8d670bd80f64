"""A bootstrapped database with dbt run for real against it, for the MCP-aware marts' tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from mcp_analytics.dbt.runner import run_dbt, run_results
from tests.helpers.db import scalar

from .reference import diff_rows


@dataclass
class Warehouse:
    url: str
    target: Path

    def dbt(self, *args: str, expect_ok: bool = True) -> dict:
        """Run dbt; returns run_results.json (asserting success unless `expect_ok` is false)."""
        proc = run_dbt(list(args), url=self.url, target_path=self.target, capture=True)
        if expect_ok:
            assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        else:
            assert proc.returncode != 0, proc.stdout[-3000:]
        self.last_output = proc.stdout
        return run_results(self.target) if (self.target / "run_results.json").exists() else {}

    def build(self, *marts: str) -> dict:
        """`dbt run` of `marts` and everything upstream of them, then the tests of `marts`
        (their contracts, grain and exactness tests); returns the run's results."""
        results = self.dbt("run", "--select", *(f"+{m}" for m in marts))
        self.dbt("test", "--select", *marts)
        return results

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    def scalar(self, query: str, params: Any = None) -> Any:
        return scalar(self.url, query, params)

    def rows(self, query: str, params: Any = None) -> list[tuple]:
        with self.connect() as conn:
            conn.execute("set timezone = 'UTC'")
            return conn.execute(query, params).fetchall()

    def diff(self, mart_sql: str, reference_sql: str) -> tuple[int, int]:
        """(rows only in the mart, rows only in the reference)."""
        with self.connect() as conn:
            return diff_rows(conn, mart_sql, reference_sql)

"""A bootstrapped database with dbt run for real against it, for the MCP-aware marts' tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.helpers.db import scalar
from tests.helpers.dbt_project import DbtWarehouse

from .reference import diff_rows


@dataclass
class Warehouse(DbtWarehouse):
    """dbt on a test database, with the reads the MCP-aware marts' tests make."""

    def build(self, *marts: str) -> dict:
        """`dbt run` of `marts` and everything upstream of them, then the tests of `marts`
        (their contracts, grain and exactness tests); returns the run's results."""
        results = self.dbt("run", "--select", *(f"+{m}" for m in marts))
        self.dbt("test", "--select", *marts)
        return results

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

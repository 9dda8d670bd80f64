"""Fixtures of the MCP-aware analytics tests: a bootstrapped database per module with dbt."""

from __future__ import annotations

import pytest

from .warehouse import Warehouse


@pytest.fixture(scope="module")
def warehouse(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return Warehouse(module_db, tmp_path_factory.mktemp("dbt_target"))

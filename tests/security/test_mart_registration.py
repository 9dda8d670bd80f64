"""mart_register_sources() (bootstrap_sql/050): dbt's role may register a mart, no lower role."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

REGISTER = "select mart_register_sources('role_test_mart', array['tool_usage_logs'])"


def test_admin_registers_a_mart(module_db: str, make_login) -> None:
    with psycopg.connect(make_login(module_db, "mcp_admin"), autocommit=True) as conn:
        assert conn.execute(REGISTER).fetchone() == (1,)
    with psycopg.connect(module_db, autocommit=True) as conn:
        assert conn.execute(
            "select source_table from mart_sources where mart = 'role_test_mart'"
        ).fetchall() == [("tool_usage_logs",)]
        conn.execute("delete from mart_sources where mart = 'role_test_mart'")


@pytest.mark.parametrize("group", ["mcp_ingest", "mcp_analyst", "mcp_app"])
def test_lower_roles_may_not_register(module_db: str, make_login, group: str) -> None:
    with (
        psycopg.connect(make_login(module_db, group), autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(REGISTER)

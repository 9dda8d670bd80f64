"""dbt vars: each one declared in dbt_project.yml is read, and each one read is declared."""

from __future__ import annotations

import re

import yaml

from mcp_analytics.config import settings
from mcp_analytics.warehouse.retention import LATE_DATA_VAR

VAR_CALL = re.compile(r"""\bvar\(\s*['"](\w+)['"]""")


def test_declared_vars_are_the_vars_read() -> None:
    project = settings().dbt_project_dir
    declared = set(yaml.safe_load((project / "dbt_project.yml").read_text())["vars"])
    read_by_dbt = {
        name
        for folder in ("models", "macros", "tests", "analyses")
        for path in (project / folder).rglob("*")
        if path.suffix in (".sql", ".yml")
        for name in VAR_CALL.findall(path.read_text())
    }
    assert {"raw_schema", "mart_allow_full_refresh"} <= read_by_dbt
    assert read_by_dbt <= declared, f"read but not declared: {read_by_dbt - declared}"
    assert declared == read_by_dbt | {LATE_DATA_VAR}, f"unread: {declared - read_by_dbt}"

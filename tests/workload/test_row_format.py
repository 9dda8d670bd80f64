"""The demo's COPY lines follow the event schema (ingest/events.py TABLES)."""

from __future__ import annotations

import pytest

from mcp_analytics.demo.workload import ERROR_ROW, METRIC_ROW, REQUEST_ROW, TOOL_ROW, RowFormat
from mcp_analytics.ingest.events import TABLES


@pytest.mark.parametrize("row", [TOOL_ROW, REQUEST_ROW, ERROR_ROW, METRIC_ROW])
def test_demo_columns_are_the_schemas_in_its_order_with_every_required_one(row: RowFormat) -> None:
    schema = [c.name for c in TABLES[row.table]]
    assert list(row.columns) == [c for c in schema if c in row.columns]
    assert {c.name for c in TABLES[row.table] if c.required} <= set(row.columns)


def test_values_are_placed_in_the_schemas_order() -> None:
    row = RowFormat("error_logs", ("message", "timestamp", "level"))
    assert row.columns == ("level", "message", "timestamp")
    assert row.line(("boom", "2026-01-01 00:00:00+00", "warn")) == (
        "warn\tboom\t2026-01-01 00:00:00+00\n"
    )
    in_order = RowFormat("error_logs", ("level", "message"))
    assert in_order.line(("warn", "boom")) == "warn\tboom\n"


@pytest.mark.parametrize("fields", [("level", "nope"), ("level", "level")])
def test_a_field_the_schema_lacks_or_a_repeated_one_is_refused(fields: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="error_logs: unknown or repeated fields"):
        RowFormat("error_logs", fields)

"""Read the seed design document: its CREATE TABLE columns, indexes, enums and default rows.

The tests compare the bootstrapped database against the seed itself, so a column or index the
seed names can never silently go missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEED = Path(__file__).resolve().parents[2] / "docs" / "design" / "seed-database-architecture.md"

_TYPE_MAP = {
    "serial": ("integer", None),
    "bigserial": ("bigint", None),
    "integer": ("integer", None),
    "bigint": ("bigint", None),
    "boolean": ("boolean", None),
    "text": ("text", None),
    "jsonb": ("jsonb", None),
    "inet": ("inet", None),
    "timestamp with time zone": ("timestamp with time zone", None),
}


#: Columns deliberately made wider than the seed's (bootstrap_sql/060_label_widths.sql,
#: docs/seed-corrections.md): what real producers send did not fit.
WIDENED = {
    ("tool_usage_logs", "tool_name"): 128,
    ("tool_usage_logs", "bcp_name"): 255,
    ("tool_usage_logs", "tool_version"): 256,
    ("tool_usage_logs", "error_code"): 255,
    ("mcp_request_logs", "method"): 32,
    ("mcp_request_logs", "client_version"): 256,
    ("mcp_request_logs", "error_type"): 255,
    ("error_logs", "error_code"): 255,
    ("error_logs", "service_version"): 256,
    ("error_logs", "environment"): 255,
    ("error_logs", "deployment_id"): 255,
    ("performance_metrics", "metric_name"): 255,
    ("performance_metrics", "unit"): 63,
    ("performance_metrics", "service"): 255,
    ("performance_metrics", "environment"): 255,
}


@dataclass(frozen=True)
class SeedColumn:
    table: str
    name: str
    data_type: str  # information_schema.columns.data_type (or udt name for enums)
    length: int | None
    precision: tuple[int, int] | None
    not_null: bool
    default: str | None
    serial: bool


def _sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", SEED.read_text(), flags=re.S)


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def tables() -> dict[str, list[SeedColumn]]:
    result: dict[str, list[SeedColumn]] = {}
    for block in _sql_blocks():
        text = _strip_comments(block)
        for match in re.finditer(r"CREATE TABLE (\w+) \((.*?)\n\)", text, flags=re.S):
            name, body = match.group(1), match.group(2)
            if " PARTITION OF " in match.group(0):
                continue
            cols = []
            for raw in body.split("\n"):
                line = raw.strip().rstrip(",")
                if not line or line.split()[0] in {"PRIMARY", "CONSTRAINT", "UNIQUE", ")"}:
                    continue
                if line.startswith(("aggregation_period IN", ")")):
                    continue
                cols.append(_column(name, line))
            result[name] = cols
    return result


def _column(table: str, line: str) -> SeedColumn:
    m = re.match(r"(\w+)\s+(.*)", line)
    assert m, line
    col, rest = m.group(1), m.group(2)
    upper = rest.upper()
    length = precision = None
    if mm := re.match(r"VARCHAR\((\d+)\)", upper):
        dtype, length = "character varying", WIDENED.get((table, col), int(mm.group(1)))
    elif mm := re.match(r"DECIMAL\((\d+),\s*(\d+)\)", upper):
        dtype, precision = "numeric", (int(mm.group(1)), int(mm.group(2)))
    elif upper.startswith("TIMESTAMP WITH TIME ZONE"):
        dtype = "timestamp with time zone"
    elif mm := re.match(r"(\w+_ENUM)", upper):
        dtype = mm.group(1).lower()
    else:
        dtype = _TYPE_MAP[upper.split()[0].lower()][0]
    default = None
    if dm := re.search(r"DEFAULT\s+('[^']*'|[\w.]+)", rest, flags=re.I):
        default = dm.group(1)
    return SeedColumn(
        table=table,
        name=col,
        data_type=dtype,
        length=length,
        precision=precision,
        not_null="NOT NULL" in upper or "PRIMARY KEY" in upper,
        default=default,
        serial=upper.startswith(("SERIAL", "BIGSERIAL")),
    )


def indexes() -> dict[str, str]:
    """Index name -> the relation the seed puts it on."""
    found = {}
    for block in _sql_blocks():
        for m in re.finditer(r"CREATE (?:UNIQUE )?INDEX (\w+) ON (\w+)", block):
            found[m.group(1)] = m.group(2)
    return found


def enums() -> dict[str, list[str]]:
    found = {}
    for block in _sql_blocks():
        for m in re.finditer(r"CREATE TYPE (\w+) AS ENUM \(([^)]*)\)", block):
            found[m.group(1)] = re.findall(r"'([^']*)'", m.group(2))
    return found


def default_rows(table: str) -> list[tuple[str, ...]]:
    """The literal tuples of the seed's `INSERT INTO <table> ... VALUES` statement."""
    for block in _sql_blocks():
        m = re.search(rf"INSERT INTO {table} \(([^)]*)\) VALUES(.*?);", block, flags=re.S)
        if m:
            rows = re.findall(r"\(([^()]*)\)", m.group(2))
            return [tuple(v.strip().strip("'") for v in _split(row)) for row in rows]
    raise LookupError(table)


def default_columns(table: str) -> list[str]:
    for block in _sql_blocks():
        m = re.search(rf"INSERT INTO {table} \(([^)]*)\) VALUES", block)
        if m:
            return [c.strip() for c in m.group(1).split(",")]
    raise LookupError(table)


def _split(row: str) -> list[str]:
    return [p for p in re.findall(r"'[^']*'|[^,]+", row) if p.strip()]

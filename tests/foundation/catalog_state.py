"""What a bootstrapped database is, as text two databases can be compared by.

`schema_objects` is pg_dump's schema-only dump (every table and comment, column type, default and
nullability, index, constraint, trigger, policy, view, function with its body, volatility,
security, SET clauses and owner, the grants, the partitions), cut into its objects and sorted, so
that two databases made by different sequences of statements compare equal exactly when they hold
the same objects. `seeded_rows` is the rows the bootstrap writes into its configuration tables.
"""

from __future__ import annotations

import re
import subprocess

import psycopg
from psycopg import sql

from mcp_analytics.warehouse.bootstrap import LEDGER
from mcp_analytics.warehouse.pgtools import find_tool, server_major

# Lines of a dump that say how and when it was made, not what the database holds (pg_dump 17.6+
# opens and closes with a \restrict line whose key is new each run).
_NOT_STATE = re.compile(r"^(--.*|\\(un)?restrict .*|SET .*|SELECT pg_catalog\.set_config.*)$")
# A dump's objects are separated by their "-- Name: ...; Type: ...; Owner: ..." headers.
_OBJECT_HEADER = re.compile(r"^-- (?:Name|Data for Name): ", re.M)


def schema_objects(url: str) -> list[str]:
    """The database's objects as pg_dump --schema-only writes them, one text each, sorted (the
    header naming it first). The ledger's rows are data, so not in it; its table is.

    Raises:
        PgToolError: no pg_dump for the server's version.
        subprocess.CalledProcessError: pg_dump failed.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.info.server_version
    pg_dump = find_tool("pg_dump", server_major(version), prefer_embedded=True)
    dump = subprocess.run(
        [str(pg_dump.path), "--schema-only", f"--dbname={url}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    objects = []
    for part in _OBJECT_HEADER.split(dump)[1:]:
        header, _, body = part.partition("\n")
        kept = [line for line in body.splitlines() if line.strip() and not _NOT_STATE.match(line)]
        objects.append("\n".join([header, *_columns_sorted(kept)]))
    return sorted(objects)


def _columns_sorted(lines: list[str]) -> list[str]:
    """A CREATE TABLE's column and constraint lines in name order, without their separating
    commas; other objects as they are. A column's position comes from the order the files that
    add columns ran in (a file numbered below one already applied runs after it), which is not
    something a file says."""
    if not lines or not lines[0].startswith("CREATE TABLE ") or not lines[0].endswith("("):
        return lines
    end = (
        lines.index(")")
        if ")" in lines
        else next(i for i, line in enumerate(lines) if line.startswith(")"))
    )
    return [lines[0], *sorted(line.rstrip(",") for line in lines[1:end]), *lines[end:]]


# Each table outside the system schemas but the ledger, with its columns whose default is the
# time of insertion (when the bootstrap ran, not what it wrote).
_TABLES = """
    select c.oid::regclass::text, array_remove(array_agg(a.attname::text), null)
    from pg_catalog.pg_class as c
    left join pg_catalog.pg_attrdef as d
        on d.adrelid = c.oid and pg_get_expr(d.adbin, d.adrelid) ~* 'now\\(\\)|current_timestamp'
    left join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum = d.adnum
    where c.relkind in ('r', 'p') and not c.relispartition and c.relname <> %s
        and c.relnamespace not in (
            'pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace
        )
    group by c.oid
"""


def _rows(conn: psycopg.Connection, table: str, stamps: list[str]) -> list[str]:
    """The rows of `table` (a qualified, quoted name) as json texts without `stamps`, sorted."""
    query = sql.SQL("select (to_jsonb(t) - %s::text[])::text from {} as t").format(sql.SQL(table))
    return sorted(row for (row,) in conn.execute(query, (stamps,)).fetchall())


def seeded_rows(url: str) -> dict[str, list[str]]:
    """Every non-empty table of the database but the ledger: its rows as sorted json texts,
    without the columns stamped with the time of insertion."""
    with psycopg.connect(url, autocommit=True) as conn:
        listed = conn.execute(_TABLES, (LEDGER,)).fetchall()
        found = {table: _rows(conn, table, stamps) for table, stamps in listed}
    return {table: rows for table, rows in found.items() if rows}

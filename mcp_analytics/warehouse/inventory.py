"""What a warehouse database holds, read in one snapshot: what a backup records and a restore
compares.

Row counts of every table, the bootstrap ledger, the archive catalogue (and whether the
Parquet files it points to exist), a fingerprint of every mart, and the roles, database
privileges and database settings the objects refer to (which a dump of one database does not
carry: roles belong to the server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from mcp_analytics.warehouse.bootstrap import LEDGER

#: Schemas of the server itself, never part of a backup.
USER_SCHEMA = (
    "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'"
)
MARTS_SCHEMA = "analytics"
#: Mart columns that a build stamps with its own time: left out of the fingerprint.
BUILD_STAMP_COLUMNS = frozenset({"refreshed_at"})
ARCHIVE_CATALOG = "archive.archived_partitions"


@dataclass(frozen=True)
class RoleRef:
    """A role the database's objects refer to (owner, grantee, policy role, default ACL)."""

    name: str
    can_login: bool
    inherit: bool
    superuser: bool
    comment: str | None = None


@dataclass(frozen=True)
class MartFingerprint:
    """Rows of a mart and an order-independent sum of a hash of each row (build stamps left
    out): equal fingerprints mean equal contents, whatever the physical order."""

    rows: int
    digest: str


@dataclass
class Inventory:
    """The facts of one database at one instant (see the module docstring).

    Attributes:
        row_counts: `schema.table` -> rows, for every ordinary table and leaf partition.
        ledger: the bootstrap ledger, `[filename, checksum]` in filename order.
        archive_catalog: rows of archive.archived_partitions (JSON objects, times in UTC).
        archive_files: `{path, exists, bytes}` for each exported archive file named there.
        marts: `analytics.table` -> fingerprint.
        pending_dirty_buckets: late-data ledger entries not built yet.
        roles: roles referred to; memberships `[role, member, admin_option]` among them.
        database_acl: `[grantee or PUBLIC, privilege, grantable]` of the database (None: the
            default privileges).
        database_settings: `ALTER DATABASE ... SET` entries as `name=value`.
    """

    server_version: str
    server_version_num: int
    database: str
    row_counts: dict[str, int] = field(default_factory=dict)
    ledger: list[list[str]] = field(default_factory=list)
    archive_catalog: list[dict[str, Any]] = field(default_factory=list)
    archive_files: list[dict[str, Any]] = field(default_factory=list)
    marts: dict[str, MartFingerprint] = field(default_factory=dict)
    pending_dirty_buckets: int = 0
    roles: list[RoleRef] = field(default_factory=list)
    memberships: list[list[Any]] = field(default_factory=list)
    database_acl: list[list[Any]] | None = None
    database_settings: list[str] = field(default_factory=list)


def _exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()
    return bool(row and row[0])


def tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(schema, table) of every ordinary table and leaf partition outside the system schemas
    and extensions, sorted."""
    rows = conn.execute(
        "select n.nspname, c.relname from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        f" where c.relkind = 'r' and {USER_SCHEMA}"
        " and not exists (select from pg_depend as d where d.classid = 'pg_class'::regclass"
        " and d.objid = c.oid and d.deptype = 'e')"
        " order by 1, 2"
    ).fetchall()
    return [(s, t) for s, t in rows]


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """`schema.table` -> exact row count (count(*)), for every table of `tables()`."""
    counts = {}
    for schema, table in tables(conn):
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def ledger(conn: psycopg.Connection) -> list[list[str]]:
    """The bootstrap ledger as `[filename, checksum]` pairs (empty when not bootstrapped)."""
    if not _exists(conn, f"public.{LEDGER}"):
        return []
    rows = conn.execute(
        f"select filename, trim(checksum) from public.{LEDGER} order by filename"
    ).fetchall()
    return [[name, checksum] for name, checksum in rows]


def archive_catalog(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Rows of the archive catalogue, oldest first, as JSON objects with UTC times."""
    if not _exists(conn, ARCHIVE_CATALOG):
        return []
    conn.execute("set local timezone = 'UTC'")
    rows = conn.execute(
        f"select row_to_json(a)::text from {ARCHIVE_CATALOG} as a order by a.id"
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def archive_files(catalog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`{path, exists, bytes}` of every file the catalogue says an export wrote."""
    files = []
    for entry in catalog:
        if not entry.get("export_path"):
            continue
        path = Path(entry["export_path"])
        exists = path.is_file()
        files.append(
            {"path": str(path), "exists": exists, "bytes": path.stat().st_size if exists else None}
        )
    return files


def mart_fingerprints(conn: psycopg.Connection) -> dict[str, MartFingerprint]:
    """A fingerprint of every table of schema `analytics` (the marts dbt builds)."""
    marts = conn.execute(
        "select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition"
        " order by 1",
        (MARTS_SCHEMA,),
    ).fetchall()
    prints = {}
    for (name,) in marts:
        columns = [
            c
            for (c,) in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass"
                " and attnum > 0 and not attisdropped order by attnum",
                (f"{MARTS_SCHEMA}.{name}",),
            ).fetchall()
            if c not in BUILD_STAMP_COLUMNS
        ]
        row_expr = sql.SQL("row({})::text").format(
            sql.SQL(", ").join(sql.SQL("m.{}").format(sql.Identifier(c)) for c in columns)
        )
        # 60 bits of each row's md5 summed as numeric: order-independent and overflow-free.
        query = sql.SQL(
            "select count(*), coalesce(sum(('x' || left(md5({r}), 15))::bit(60)::bigint), 0)"
            "::text from {t} as m"
        ).format(r=row_expr, t=sql.Identifier(MARTS_SCHEMA, name))
        row = conn.execute(query).fetchone()
        assert row is not None  # an aggregate returns one row
        prints[f"{MARTS_SCHEMA}.{name}"] = MartFingerprint(int(row[0]), str(row[1]))
    return prints


def pending_dirty_buckets(conn: psycopg.Connection) -> int:
    """Entries of the late-data ledger (mart_dirty_buckets) no build has taken yet."""
    if not _exists(conn, "public.mart_dirty_buckets"):
        return 0
    row = conn.execute("select count(*) from public.mart_dirty_buckets").fetchone()
    return int(row[0]) if row else 0


_REFERENCED_ROLES = f"""
with refs (oid) as (
    select c.relowner from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where {USER_SCHEMA}
    union select n.nspowner from pg_namespace as n where {USER_SCHEMA}
    union select p.proowner from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
    where {USER_SCHEMA}
    union select t.typowner from pg_type as t join pg_namespace as n on n.oid = t.typnamespace
    where {USER_SCHEMA}
    union select d.defaclrole from pg_default_acl as d
    union select (aclexplode(c.relacl)).grantee from pg_class as c
    join pg_namespace as n on n.oid = c.relnamespace where c.relacl is not null and {USER_SCHEMA}
    union select (aclexplode(a.attacl)).grantee from pg_attribute as a
    join pg_class as c on c.oid = a.attrelid join pg_namespace as n on n.oid = c.relnamespace
    where a.attacl is not null and {USER_SCHEMA}
    union select (aclexplode(n.nspacl)).grantee from pg_namespace as n
    where n.nspacl is not null and {USER_SCHEMA}
    union select (aclexplode(p.proacl)).grantee from pg_proc as p
    join pg_namespace as n on n.oid = p.pronamespace where p.proacl is not null and {USER_SCHEMA}
    union select (aclexplode(t.typacl)).grantee from pg_type as t
    join pg_namespace as n on n.oid = t.typnamespace where t.typacl is not null and {USER_SCHEMA}
    union select (aclexplode(d.defaclacl)).grantee from pg_default_acl as d
    union select unnest(p.polroles) from pg_policy as p
    union select (aclexplode(d.datacl)).grantee from pg_database as d
    where d.datname = current_database() and d.datacl is not null
)
select r.oid, r.rolname, r.rolcanlogin, r.rolinherit, r.rolsuper,
    shobj_description(r.oid, 'pg_authid')
from pg_roles as r inner join refs on refs.oid = r.oid
order by r.rolname
"""


def referenced_roles(conn: psycopg.Connection) -> tuple[list[RoleRef], list[list[Any]]]:
    """The roles the database's objects refer to, and the memberships among them
    (`[role, member, admin_option]`), which restoring onto another server needs."""
    rows = conn.execute(_REFERENCED_ROLES).fetchall()
    roles = [
        RoleRef(name, login, inherit, sup, note) for _, name, login, inherit, sup, note in rows
    ]
    oids = [r[0] for r in rows]
    members = conn.execute(
        "select g.rolname, m.rolname, am.admin_option from pg_auth_members as am"
        " join pg_roles as g on g.oid = am.roleid join pg_roles as m on m.oid = am.member"
        " where am.roleid = any(%s) and am.member = any(%s) order by 1, 2",
        (oids, oids),
    ).fetchall()
    return roles, [[g, m, bool(a)] for g, m, a in members]


def database_acl(conn: psycopg.Connection) -> list[list[Any]] | None:
    """`[grantee or PUBLIC, privilege, grantable]` of the current database; None when it has
    the default privileges."""
    row = conn.execute(
        "select datacl is null from pg_database where datname = current_database()"
    ).fetchone()
    if row is None or row[0]:
        return None
    rows = conn.execute(
        "select coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable"
        " from pg_database as d cross join lateral aclexplode(d.datacl) as a"
        " left join pg_roles as r on r.oid = a.grantee"
        " where d.datname = current_database() order by 1, 2"
    ).fetchall()
    return [[g, p, bool(x)] for g, p, x in rows]


def database_settings(conn: psycopg.Connection) -> list[str]:
    """`name=value` settings of `ALTER DATABASE <current> SET` (for every role)."""
    rows = conn.execute(
        "select unnest(s.setconfig) from pg_db_role_setting as s"
        " join pg_database as d on d.oid = s.setdatabase"
        " where d.datname = current_database() and s.setrole = 0 order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def take(conn: psycopg.Connection, *, with_data: bool = True) -> Inventory:
    """The inventory of the database `conn` is connected to, in the connection's current
    transaction (run it inside a repeatable-read transaction for one consistent snapshot).
    Without `with_data`, row counts and mart fingerprints are left empty (a schema-only
    backup has no rows to compare)."""
    with conn.transaction():
        return _take(conn, with_data=with_data)


def _take(conn: psycopg.Connection, *, with_data: bool) -> Inventory:
    version, version_num, database = conn.execute(
        "select current_setting('server_version'), current_setting('server_version_num')::int,"
        " current_database()"
    ).fetchone() or ("", 0, "")
    catalog = archive_catalog(conn) if with_data else []
    roles, memberships = referenced_roles(conn)
    return Inventory(
        server_version=version,
        server_version_num=version_num,
        database=database,
        row_counts=row_counts(conn) if with_data else {},
        ledger=ledger(conn),
        archive_catalog=catalog,
        archive_files=archive_files(catalog),
        marts=mart_fingerprints(conn) if with_data else {},
        pending_dirty_buckets=pending_dirty_buckets(conn) if with_data else 0,
        roles=roles,
        memberships=memberships,
        database_acl=database_acl(conn),
        database_settings=database_settings(conn),
    )

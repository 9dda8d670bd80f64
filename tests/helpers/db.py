"""Test databases, one-value and all-rows queries.

Each test database gets a unique name (mcpa_test_<hex>), so test runs can share a server.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.abc import Params, QueryNoTemplate
from psycopg.types.json import Jsonb

from mcp_analytics.warehouse import db


def one_row(
    target: str | psycopg.Connection, query: QueryNoTemplate, params: Params | None = None
) -> tuple[Any, ...]:
    """The first row of `query`, run on a connection or on a new autocommit connection to
    the URL `target`.

    Raises:
        LookupError: the query returned no row.
    """
    if isinstance(target, psycopg.Connection):
        return db.fetch_one(target, query, params)
    with psycopg.connect(target, autocommit=True) as conn:
        return db.fetch_one(conn, query, params)


def scalar(
    target: str | psycopg.Connection, query: QueryNoTemplate, params: Params | None = None
) -> Any:
    """The first column of the first row of `query` (see `one_row`).

    Raises:
        LookupError: the query returned no row.
    """
    return one_row(target, query, params)[0]


def rows(url: str, query: QueryNoTemplate, params: Params | None = None) -> list[tuple[Any, ...]]:
    """Every row of `query`, run on a new autocommit connection to the URL `url` (a
    statement with `returning` included)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def column(url: str, query: QueryNoTemplate, params: Params | None = None) -> list[Any]:
    """The first column of every row of `query` (see `rows`)."""
    return [row[0] for row in rows(url, query, params)]


def set_config(target: str | psycopg.Connection, key: str, value: Any) -> None:
    """Set system_configuration's `key` to `value` (stored as jsonb: a number, string, list
    or dict), on a connection or on a new autocommit connection to the URL `target`.

    Raises:
        LookupError: no row has that key (the bootstrap seeds every key the code reads).
    """
    query = "update system_configuration set config_value = %s where config_key = %s"
    if isinstance(target, psycopg.Connection):
        updated = target.execute(query, (Jsonb(value), key)).rowcount
    else:
        with psycopg.connect(target, autocommit=True) as conn:
            updated = conn.execute(query, (Jsonb(value), key)).rowcount
    if updated != 1:
        raise LookupError(f"system_configuration has no key {key!r}")


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(db.with_database(url, "postgres"), autocommit=True)


def create_database(server_url: str, template: str | None = None) -> str:
    """Create a database with a unique name on `server_url`'s server (a copy of the database
    `template` when given, which must have no other connection); returns its URL."""
    name = f"mcpa_test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" template {}").format(sql.Identifier(template))
    with _admin(server_url) as conn:
        conn.execute(create)
    return db.with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database of `url`, closing its connections (nothing when it is gone)."""
    name = db.libpq_params(url)["dbname"]
    with _admin(url) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def url_as(url: str, user: str, password: str) -> str:
    """`url` with its user and password replaced."""
    parts = urlsplit(url)
    hostport = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def record_retention_flag(conn: psycopg.Connection) -> None:
    """A stand-in for the late-data triggers: table flag_seen gets, for each row deleted from
    tool_usage_logs, the value of the session's `mcp_analytics.retention` setting then."""
    conn.execute("create table flag_seen (flag text)")
    conn.execute(
        """
        create function record_flag() returns trigger language plpgsql as $$
        begin
            insert into flag_seen values (current_setting('mcp_analytics.retention', true));
            return old;
        end $$
        """
    )
    conn.execute(
        "create trigger t after delete on tool_usage_logs "
        "for each row execute function record_flag()"
    )

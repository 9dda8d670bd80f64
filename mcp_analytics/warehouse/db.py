"""The one place that opens database connections.

`database_url()` is DATABASE_URL when it is set, otherwise the embedded server (started on
demand) with the project's database created on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.abc import Params, QueryNoTemplate
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mcp_analytics.config import Settings, settings
from mcp_analytics.ingest.redaction import redact_text
from mcp_analytics.warehouse import embedded

Role = Literal["admin", "ingest", "analyst"]


class DatabaseError(RuntimeError):
    """A connection problem, with any password already masked."""


def server_url(cfg: Settings | None = None) -> str:
    """URL of the embedded server's maintenance database (starting the server if needed)."""
    cfg = cfg or settings()
    return embedded.start(cfg.pgdata_dir).url("postgres")


def ensure_database(url: str) -> None:
    """Create the database named in `url` when it does not exist (needs CREATEDB)."""
    name = libpq_params(url)["dbname"]
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def database_url(role: Role = "admin", cfg: Settings | None = None) -> str:
    """The libpq URL the project uses; role URLs fall back to the admin URL when unset."""
    cfg = cfg or settings()
    if role == "ingest" and cfg.ingest_url:
        return cfg.ingest_url
    if role == "analyst" and cfg.analyst_url:
        return cfg.analyst_url
    if cfg.database_url:
        return cfg.database_url
    url = with_database(server_url(cfg), cfg.embedded_db_name)
    ensure_database(url)
    return url


def _is_uri(conninfo: str) -> bool:
    return conninfo.lstrip().startswith(("postgresql://", "postgres://"))


def with_database(url: str, dbname: str) -> str:
    """The connection string `url` (either libpq form) naming database `dbname` instead, host,
    user and options kept; a URI stays a URI, a `key=value` string stays one."""
    if _is_uri(url):
        parts = urlsplit(url.strip())
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return make_conninfo(url, dbname=dbname)


def libpq_params(url: str) -> dict[str, str]:
    """Host/port/user/password/dbname (and sslmode when given) of a connection string in either
    libpq form, a URI (`postgresql://user:pw@host:port/db?sslmode=...`) or key/value
    (`host=... port=... password='...'`), parsed by libpq itself (psycopg's
    `conninfo_to_dict`). Unset parts: host `localhost`, port `5432`, user and dbname
    `postgres`, password empty (dbt's profile needs every one).

    Raises:
        ValueError: not a connection string libpq accepts (the message masks any password).
    """
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as err:
        raise ValueError(f"invalid connection string: {redact_text(str(err))}") from None
    params = {
        "host": str(given.get("host") or given.get("hostaddr") or "localhost"),
        "port": str(given.get("port") or 5432),
        "user": str(given.get("user") or "postgres"),
        "password": str(given.get("password") or ""),
        "dbname": str(given.get("dbname") or "postgres"),
    }
    if given.get("sslmode"):
        params["sslmode"] = str(given["sslmode"])
    return params


def _setting_of(target: str) -> str | None:
    """The environment variable `target` was read from, if any (for what to check)."""
    cfg = settings()
    for name, value in (
        ("DATABASE_URL", cfg.database_url),
        ("MCPA_INGEST_URL", cfg.ingest_url),
        ("MCPA_ANALYST_URL", cfg.analyst_url),
    ):
        if value and value == target:
            return name
    return None


def connect(url: str | None = None, *, role: Role = "admin", **kwargs) -> psycopg.Connection:
    """Open a psycopg connection.

    Raises:
        DatabaseError: unreachable, refused or not a connection string: one line, the
            password masked, naming the environment variable the string came from.
    """
    target = url or database_url(role)
    kwargs.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.OperationalError as err:
        setting = _setting_of(target)
        hint = f" (check {setting}, or unset it to use the embedded server)" if setting else ""
        raise DatabaseError(_one_line(redact_text(str(err))) + hint) from None
    except psycopg.ProgrammingError as err:  # libpq could not parse the string
        setting = _setting_of(target) or "the connection string"
        raise DatabaseError(
            f"{setting} is not a PostgreSQL connection string ({_one_line(redact_text(str(err)))}):"
            " expected postgresql://user@host:5432/dbname (password after user:) or"
            " 'host=... port=... user=... dbname=...'"
        ) from None


def _one_line(text: str) -> str:
    # libpq adds its hint on an indented second line
    return "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())


@contextlib.contextmanager
def connection(
    url: str | None = None, *, role: Role = "admin", **kwargs
) -> Iterator[psycopg.Connection]:
    """`connect()` as a context manager that closes the connection (no commit on exit)."""
    conn = connect(url, role=role, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def fetch_one(
    conn: psycopg.Connection, query: QueryNoTemplate, params: Params | None = None
) -> tuple:
    """The first row of `query`, as a tuple.

    Raises:
        LookupError: the query returned no row (for queries that always return one, such as
            aggregates and `select f()`, this means the query is wrong).
    """
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {query!r}")
    return row


def scalar(conn: psycopg.Connection, query: QueryNoTemplate, params: Params | None = None) -> Any:
    """The first column of the first row of `query` (None when that value is SQL null).

    Raises:
        LookupError: the query returned no row.
    """
    return fetch_one(conn, query, params)[0]

"""`mcp-analytics db start | stop | status | url | reset`."""

from __future__ import annotations

import argparse

import psycopg
from psycopg import sql

from mcp_analytics.config import settings
from mcp_analytics.ingest.redaction import redact_url
from mcp_analytics.warehouse import db, embedded


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="manage the database (embedded server or DATABASE_URL)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("start", help="start the embedded server").set_defaults(func=start)
    actions.add_parser("stop", help="stop the embedded server").set_defaults(func=stop)
    actions.add_parser("status", help="is the database reachable?").set_defaults(func=status)
    url = actions.add_parser("url", help="print the libpq URL (psql, dbt and psycopg accept it)")
    url.set_defaults(func=print_url)
    reset = actions.add_parser("reset", help="drop and recreate the project's database")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=reset_db)


def start(_args: argparse.Namespace) -> int:
    cfg = settings()
    if not cfg.uses_embedded:
        print("DATABASE_URL is set: nothing to start")
        return 0
    st = embedded.start(cfg.pgdata_dir)
    db.database_url(cfg=cfg)  # creates the project's database on first start
    print(
        f"embedded PostgreSQL running (pid {st.pid}, socket {st.socket_dir}, data {cfg.pgdata_dir})"
    )
    return 0


def stop(_args: argparse.Namespace) -> int:
    cfg = settings()
    if not cfg.uses_embedded:
        print("DATABASE_URL is set: the server is not ours to stop")
        return 0
    print("stopped" if embedded.stop(cfg.pgdata_dir) else "not running")
    return 0


def status(_args: argparse.Namespace) -> int:
    cfg = settings()
    if cfg.uses_embedded:
        st = embedded.status(cfg.pgdata_dir)
        if not st.running:
            print(f"embedded PostgreSQL: stopped (data {cfg.pgdata_dir})")
            return 1
        print(f"embedded PostgreSQL: running (pid {st.pid}, socket {st.socket_dir})")
        url = st.url(cfg.embedded_db_name)
    else:
        url = cfg.database_url or ""
    try:
        with db.connection(url) as conn:
            version = db.scalar(conn, "show server_version")
    except db.DatabaseError as err:
        print(f"database {redact_url(url)}: unreachable: {err}")
        return 1
    print(f"database {redact_url(url)}: PostgreSQL {version}")
    return 0


def print_url(_args: argparse.Namespace) -> int:
    # The one place a URL is printed whole: the user asked for it, to hand to psql or dbt.
    print(db.database_url())
    return 0


def reset_db(args: argparse.Namespace) -> int:
    url = db.database_url()
    name = db.libpq_params(url)["dbname"]
    if not args.yes:
        answer = input(f"drop database {name!r} and everything in it? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("aborted")
            return 1
    with psycopg.connect(db.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
    db.ensure_database(url)
    print(f"database {name!r} recreated (empty); run `mcp-analytics bootstrap`")
    return 0

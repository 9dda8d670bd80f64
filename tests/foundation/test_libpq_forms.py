"""Both libpq connection-string forms, URI and `key=value`, work everywhere and are masked in
everything printed: dbt's profile, `dbt-env`, `db status`, the loader, error messages."""

from __future__ import annotations

import io
import shlex

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from mcp_analytics.cli import main
from mcp_analytics.config import settings
from mcp_analytics.ingest.loader import load
from mcp_analytics.ingest.redaction import redact_text, redact_url
from mcp_analytics.warehouse import db
from tests.helpers.cli import dbt_env_outputs

SECRET = "s3cr3t pw'x"
URI = "postgresql://alice:s3cr3t%20pw%27x@db.example:6543/app?sslmode=require"
KV = r"host=db.example port=6543 user=alice password='s3cr3t pw\'x' dbname=app sslmode=require"


def test_both_forms_give_the_same_params():
    expected = {
        "host": "db.example",
        "port": "6543",
        "user": "alice",
        "password": SECRET,
        "dbname": "app",
        "sslmode": "require",
    }
    assert db.libpq_params(URI) == expected
    assert db.libpq_params(KV) == expected
    socket = db.libpq_params("dbname=x host=/run/pg")
    assert socket["host"] == "/run/pg" and socket["user"] == "postgres"
    with pytest.raises(ValueError, match="invalid connection string") as err:
        db.libpq_params("host=x password")
    assert "s3cr3t" not in str(err.value)


def test_with_database_keeps_the_form():
    assert db.with_database(URI, "other").startswith("postgresql://alice:")
    assert db.libpq_params(db.with_database(URI, "other"))["dbname"] == "other"
    kv = db.with_database(KV, "other")
    assert not kv.startswith("postgresql://") and conninfo_to_dict(kv)["dbname"] == "other"
    assert conninfo_to_dict(kv)["password"] == SECRET


def test_both_forms_are_masked():
    for text in (URI, KV, f"could not connect with {KV}", "password=plain host=h"):
        for masked in (redact_url(text), redact_text(text)):
            assert "s3cr3t" not in masked and "plain" not in masked, masked
    assert redact_url(KV).startswith("host=db.example port=6543 user=alice password=***")


def _kv_with_password(url: str) -> tuple[str, str]:
    """The test server's URL in key/value form with a password, and that password: the
    server's own where the URL has one (password authentication, e.g. CI's PostgreSQL 15),
    else SECRET (trust authentication ignores it)."""
    password = conninfo_to_dict(url).get("password") or SECRET
    return make_conninfo(url, password=password), password


def test_dbt_env_with_a_key_value_database_url(bootstrapped_db, monkeypatch, capsys):
    kv, password = _kv_with_password(bootstrapped_db)
    params = conninfo_to_dict(kv)
    monkeypatch.setenv("DATABASE_URL", kv)
    out, shown = dbt_env_outputs(capsys)
    assert password not in out and "MCPA_PG_PASSWORD='***'" in out
    # dbt is pointed at the server of DATABASE_URL, not at localhost.
    assert f"MCPA_PG_HOST={params['host']}" in out.replace("'", "")
    assert f"MCPA_PG_DBNAME={params['dbname']}" in out.replace("'", "")
    assert shlex.quote(password) in shown


def test_db_status_and_the_loader_with_a_key_value_url(
    bootstrapped_db, monkeypatch, capsys, tmp_path
):
    kv, password = _kv_with_password(bootstrapped_db)
    monkeypatch.setenv("DATABASE_URL", kv)
    monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path))
    line = (
        '{"table": "error_logs", "level": "info", "message": "kv form",'
        ' "timestamp": "2026-05-06T07:08:09Z"}\n'
    )
    settings.cache_clear()
    try:
        assert main(["db", "status"]) == 0
        out = capsys.readouterr().out
        summary = load(["-"], workers=0, stdin=io.BytesIO(line.encode()))
    finally:
        settings.cache_clear()
    assert "PostgreSQL" in out and password not in out and "password=***" in out
    assert summary.loaded == 1
    with db.connection(kv) as conn:
        assert db.scalar(conn, "select count(*) from error_logs where message = 'kv form'") == 1

"""The settings reader of the ingest role (`ingest_settings()`, bootstrap_sql/062) hides what
row-level security hides: a setting whose sensitivity is unknown (null) is withheld either way
(fail closed)."""

from __future__ import annotations

import psycopg


def test_the_settings_reader_hides_what_row_level_security_hides(module_db, make_login):
    ingest = make_login(module_db, "mcp_ingest")
    with psycopg.connect(module_db, autocommit=True) as admin:
        admin.execute(
            "insert into system_configuration (config_key, config_value, is_sensitive) values"
            " ('analytics.unknown_sensitivity', '\"secret?\"', null),"
            " ('analytics.sensitive', '\"secret\"', true),"
            " ('analytics.plain', '1', false)"
        )
    try:
        with psycopg.connect(ingest, autocommit=True) as conn:
            through_function = {
                r[0] for r in conn.execute("select config_key from ingest_settings()")
            }
            through_policy = {
                r[0]
                for r in conn.execute(
                    "select config_key from system_configuration"
                    " where config_key like 'analytics.%'"
                )
            }
        assert through_function == through_policy
        assert "analytics.plain" in through_function
        assert not {"analytics.unknown_sensitivity", "analytics.sensitive"} & through_function
    finally:
        with psycopg.connect(module_db, autocommit=True) as admin:
            admin.execute(
                "delete from system_configuration where config_key in"
                " ('analytics.unknown_sensitivity', 'analytics.sensitive', 'analytics.plain')"
            )

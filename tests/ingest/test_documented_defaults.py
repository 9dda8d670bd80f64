"""What docs/ingest.md says a fresh install does, a fresh bootstrap does.

Every default the ingest docs describe is read back from a freshly bootstrapped database the way
the collector and the loader read it (`ingest_settings()`, as the ingest role would), and the
redaction defaults are checked end to end on stored rows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg

from mcp_analytics.cli import main
from mcp_analytics.collector import Collector
from mcp_analytics.ingest.redaction import DETECTORS, MARKER, RedactionRules
from tests.helpers.collector import record_call
from tests.helpers.db import set_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"
CASES = Path(__file__).parent / "cases"


def settings_of(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("select config_key, config_value from ingest_settings()").fetchall()
    return dict(rows)


def test_the_documented_redaction_setting_is_installed(bootstrapped_db):
    docs = DOCS.read_text()
    # The docs quote the default row; the fresh database holds exactly that.
    quoted = re.search(r"`(\{\"extra_keys\": \[\"ssn\"\].*?\})`", docs, re.S)
    assert quoted, "docs/ingest.md no longer quotes the default analytics.redaction row"
    values = settings_of(bootstrapped_db)
    assert values["analytics.redaction"] == json.loads(quoted.group(1))
    rules = RedactionRules.from_config(values["analytics.redaction"])
    # ... and it means what the code's own defaults mean (used when the database is unreachable).
    assert rules == RedactionRules()
    assert rules.marker == MARKER and rules.free_text and rules.detectors == DETECTORS
    assert rules.is_secret_key("ssn") and rules.is_secret_key("SSN")
    assert rules.is_secret_key("acct_number") and rules.is_secret_key("acctId")
    assert not rules.is_secret_key("account_name") and not rules.is_secret_key("session_id")
    # The collector's documented defaults (50, 5000, true) are the seed's rows.
    assert values["analytics.batch_size"] == 50
    assert values["analytics.flush_interval_ms"] == 5000
    assert values["analytics.enabled"] is True


def test_documented_pii_keys_are_redacted_on_a_fresh_install(
    bootstrapped_db, tmp_path, cli_env, capsys
):
    cli_env(bootstrapped_db)
    status = main(["ingest", "-q", str(CASES / "documented-pii-keys.ndjson")])
    assert status == 0, capsys.readouterr()
    with Collector(bootstrapped_db, spool_dir=tmp_path / "spool") as collector:
        record_call(
            collector,
            execution_id="ssn-2",
            parameters={"SSN": "987-65-4321", "acctNo": "12345678", "q": "kept"},
            error_message="lookup failed for ssn=987-65-4321 card 4111 1111 1111 1111",
        )
        assert collector.flush(10)
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        rows = conn.execute(
            "select execution_id, parameters, error_message from tool_usage_logs"
            " where execution_id in ('ssn-1', 'ssn-2') order by execution_id"
        ).fetchall()
    assert [r[0] for r in rows] == ["ssn-1", "ssn-2"]
    assert rows[0][1] == {"ssn": MARKER, "acct_number": MARKER}
    assert rows[1][1] == {"SSN": MARKER, "acctNo": MARKER, "q": "kept"}
    text = json.dumps([list(r) for r in rows])
    for secret in ("123-45-6789", "DE89370400440532013000", "987-65-4321", "4111 1111"):
        assert secret not in text, secret


def test_a_configured_row_is_left_alone_by_064(bootstrapped_db):
    """064 replaces only 030's value: re-applying its statement keeps a deliberate setting."""
    chosen = {"extra_keys": ["tax_id"], "patterns": [], "allow_keys": [], "marker": "***"}
    sql = (
        Path(__file__).resolve().parents[2] / "bootstrap_sql" / "064_redaction_defaults.sql"
    ).read_text()
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        set_config(conn, "analytics.redaction", chosen)
        conn.execute(sql)
        value = conn.execute(
            "select config_value from system_configuration where config_key = 'analytics.redaction'"
        ).fetchone()[0]
    assert value == chosen

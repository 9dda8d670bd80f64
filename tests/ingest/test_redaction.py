"""Secret redaction: headers, nested keys, free text, configuration, and the stored rows."""

from __future__ import annotations

import psycopg

from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import prepare
from mcp_analytics.ingest.redaction import MARKER, RedactionRules

from .conftest import count

R = RedactionRules()


def test_headers_case_insensitive_dicts_and_pairs():
    headers = {
        "Authorization": "Bearer abc.def.ghi",
        "cookie": "sid=1",
        "Set-Cookie": "sid=2",
        "X-API-Key": "k1",
        "x_api_key": "k2",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Auth-Token": "t",
        "Content-Type": "application/json",
        "User-Agent": "claude",
    }
    out = R.value(headers)
    assert out["Content-Type"] == "application/json" and out["User-Agent"] == "claude"
    assert all(v == MARKER for k, v in out.items() if k not in ("Content-Type", "User-Agent"))
    pairs = R.value([["AUTHORIZATION", "secret"], ["accept", "*/*"]])
    assert pairs == [["AUTHORIZATION", MARKER], ["accept", "*/*"]]


def test_nested_keys_and_non_secrets_kept():
    value = {
        "query": "weather",
        "max_tokens": 100,
        "input_tokens": 5,
        "config": {"db": {"password": "p", "host": "h"}, "items": [{"client_secret": "c"}]},
        "accessToken": "a",
        "refresh_token": "r",
        "privateKey": {"pem": "..."},
        "session": "s",
    }
    out = R.value(value)
    assert out["query"] == "weather" and out["max_tokens"] == 100 and out["input_tokens"] == 5
    assert out["config"]["db"] == {"password": MARKER, "host": "h"}
    assert out["config"]["items"] == [{"client_secret": MARKER}]
    assert out["accessToken"] == out["refresh_token"] == out["privateKey"] == MARKER
    assert out["session"] == MARKER


def test_free_text():
    text = (
        "call failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig at "
        "postgresql://app:s3cretpw@db:5432/x with api_key=AKIA1234567 and "
        '{"password": "hunter2"} /path?token=abc123&page=2'
    )
    out = R.text(text)
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "s3cretpw", "AKIA1234567", "hunter2", "abc123"):
        assert secret not in out, (secret, out)
    assert "page=2" in out and "call failed" in out
    assert R.text("basic auth failed for user bob") == "basic auth failed for user bob"
    assert R.value({"note": "Bearer abcdefghijkl"}) == {"note": f"Bearer {MARKER}"}


def test_configurable_rules():
    rules = RedactionRules.from_config(
        {"extra_keys": ["ssn"], "patterns": ["^acct"], "allow_keys": ["session"], "marker": "***"}
    )
    out = rules.value({"SSN": "1", "acctNumber": "2", "session": "3", "password": "4", "x": "5"})
    assert out == {"SSN": "***", "acctNumber": "***", "session": "3", "password": "***", "x": "5"}
    assert RedactionRules.from_config(None) == RedactionRules()


def test_redaction_applies_before_hashing():
    a = prepare("tool_usage_logs", _tool(parameters={"q": 1, "password": "one"}))
    b = prepare("tool_usage_logs", _tool(parameters={"q": 1, "password": "two"}))
    assert a["parameters_hash"] == b["parameters_hash"]
    assert "one" not in a["parameters"]


def _tool(**kw):
    return {
        "execution_id": "e",
        "bcp_name": "b",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 1,
        **kw,
    }


SECRETS = [
    "hunter2-pw",
    "sk-live-ABCDEF123456",
    "eyJtoken.payload.sig99",
    "s3cret-cookie",
    "dbpass-777",
    "refresh-XYZ-987",
]


def test_no_secret_reaches_any_table(module_db, tmp_path):
    """Everything the collector stores, dumped as text, contains none of the secrets."""
    with Collector(module_db, batch_size=1000, spool_dir=tmp_path) as c:
        c.record_tool_call(
            bcp_name="b",
            tool_name="t",
            operation="o",
            success=False,
            duration_ms=3,
            parameters={"user": "bob", "password": SECRETS[0], "nested": [{"api_key": SECRETS[1]}]},
            response_data={"headers": {"Authorization": f"Bearer {SECRETS[2]}"}},
            error_message=f"auth failed with Bearer {SECRETS[2]}",
            error_stack=f"File x, line 1\n  connect('postgresql://u:{SECRETS[4]}@h/db')",
        )
        c.record_request(
            method="POST",
            path=f"/mcp?access_token={SECRETS[5]}",
            response_status_code=401,
            duration_ms=2,
            success=False,
            request_headers={"Cookie": SECRETS[3], "X-Api-Key": SECRETS[1], "Accept": "json"},
            query_params={"refresh_token": SECRETS[5]},
            request_body={"credentials": {"password": SECRETS[0]}},
            response_headers=[["Set-Cookie", SECRETS[3]]],
        )
        c.record_error(
            level="error",
            message=f"login failed password={SECRETS[0]}",
            stack_trace=f"Authorization: Bearer {SECRETS[2]}",
            context={"headers": {"authorization": SECRETS[2]}, "db_password": SECRETS[4]},
            tool_context={"secret": SECRETS[1]},
        )
        c.record_metric(
            metric_name="m",
            metric_value=1,
            aggregation_period="1m",
            labels={"token": SECRETS[5], "tool": "t"},
        )
        assert c.flush(10)
        assert c.stats["written"] == 4, c.stats
    with psycopg.connect(module_db, autocommit=True) as conn:
        dumps = []
        for table in (
            "tool_usage_logs",
            "mcp_request_logs",
            "error_logs",
            "performance_metrics",
            "ingest_rejects",
        ):
            rows = conn.execute(f"select t::text from {table} as t").fetchall()
            dumps += [r[0] for r in rows]
    text = "\n".join(dumps)
    assert "[REDACTED]" in text and "bob" in text
    for secret in SECRETS:
        assert secret not in text, secret
    assert (
        count(
            module_db,
            "select count(*) from mcp_request_logs where request_headers->>'Accept' = 'json'",
        )
        >= 1
    )

"""Error classes: every code, range and alias of error_classes.toml through the Python
classifier and bootstrap_sql/080's SQL function alike, and the class stored by every ingest
path (the collector, the loader, the OTLP receiver) and by 080's backfill of older rows."""

from __future__ import annotations

import json
import shutil
import tomllib
import uuid
from importlib import resources
from pathlib import Path

import psycopg
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_analytics.analytics.error_classes import (
    ERROR_CLASSES,
    classify_code,
    error_class,
    normalise_name,
)
from mcp_analytics.collector import Collector
from mcp_analytics.ingest.events import EventError, prepare
from mcp_analytics.ingest.loader import load_text
from mcp_analytics.warehouse.bootstrap import bootstrap
from tests.helpers.collector import wait_for
from tests.otlp import otlp_data as otlp
from tests.otlp.conftest import running

TABLE = tomllib.loads(
    resources.files("mcp_analytics.analytics").joinpath("error_classes.toml").read_text()
)
BOOTSTRAP = Path(__file__).resolve().parents[2] / "bootstrap_sql"


def expected_cases() -> list[tuple[str | None, str]]:
    """(error_code, class) for every row of the table, each range's ends and neighbours,
    and the spellings a name is matched under."""
    cases: list[tuple[str | None, str]] = [(code, cls) for code, cls in TABLE["codes"].items()]
    for r in TABLE["ranges"]:
        low, high, cls = r["low"], r["high"], r["class"]
        exact = {int(c) for c in TABLE["codes"]}
        for n in (low, high, (low + high) // 2):
            if n not in exact:
                cases.append((str(n), cls))
    for name, cls in TABLE["names"].items():
        cases += [
            (name, cls),
            (name.upper(), cls),
            (f"some.module.{name}", cls),
            (f"  {name}\t", cls),
        ]
    return cases


# Spellings senders use, each with the class the rule gives it.
ALIASES = [
    ("tool_error", "tool_error"),  # the SDK's error.type for an isError result
    ("ToolError", "tool_error"),
    ("-32700", "caller_error"),
    ("-32600", "caller_error"),
    ("-32601", "caller_error"),
    ("-32602", "caller_error"),
    ("-32002", "caller_error"),
    ("INVALID_PARAMS", "caller_error"),
    ("MethodNotFound", "caller_error"),
    ("-32603", "server_error"),
    ("-32000", "server_error"),
    ("-32099", "server_error"),
    ("-32001", "server_error"),
    ("-32022", "server_error"),
    ("ZeroDivisionError", "server_error"),
    ("builtins.ValueError", "server_error"),
    ("_OTHER", "server_error"),
    ("E_UNKNOWN", "server_error"),
    ("", "server_error"),
    (None, "server_error"),
    ("TimeoutError", "transport_error"),
    ("asyncio.exceptions.CancelledError", "transport_error"),
    ("httpx.ReadTimeout", "transport_error"),
    ("anyio.ClosedResourceError", "transport_error"),
    ("BrokenPipeError", "transport_error"),
    ("ConnectionResetError", "transport_error"),
    ("DEADLINE_EXCEEDED", "transport_error"),
    ("-32800", "transport_error"),
    ("503", "transport_error"),
    ("HTTP 502", "transport_error"),
    ("http_504", "transport_error"),
    ("http.500", "transport_error"),
    ("408", "transport_error"),
    ("HTTP 408", "transport_error"),
    ("401", "caller_error"),
    ("HTTP 429", "caller_error"),
    ("+404", "caller_error"),
    ("399", "server_error"),
    ("600", "server_error"),
    ("-32100", "server_error"),
    ("-31999", "server_error"),
    ("1e5", "server_error"),
    ("12345678901", "server_error"),
]


@pytest.mark.parametrize(("code", "expected"), expected_cases() + ALIASES)
def test_every_code_range_and_alias(code: str | None, expected: str) -> None:
    assert error_class(False, code) == expected
    assert classify_code(code) == expected


@pytest.mark.parametrize("code", [None, "tool_error", "-32602", "503", "TimeoutError", "x"])
def test_a_successful_call_is_ok_whatever_its_code(code: str | None) -> None:
    assert error_class(True, code) == "ok"


def test_the_table_names_only_error_classes_in_normal_form() -> None:
    assert tuple(TABLE["classes"]) == ERROR_CLASSES
    classes = set(TABLE["codes"].values()) | set(TABLE["names"].values())
    classes |= {r["class"] for r in TABLE["ranges"]}
    assert classes == set(ERROR_CLASSES) - {"ok"}
    assert all(normalise_name(name) == name for name in TABLE["names"])
    # ranges do not overlap: an order-independent table
    spans = sorted((r["low"], r["high"]) for r in TABLE["ranges"])
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))


def _sql_classes(conn: psycopg.Connection, cases: list[tuple[bool, str | None]]) -> list[str]:
    rows = conn.execute(
        "select mcp_error_class(c.success, c.code) from unnest(%s::boolean[], %s::text[])"
        " with ordinality as c (success, code, n) order by c.n",
        ([s for s, _ in cases], [c for _, c in cases]),
    ).fetchall()
    return [r[0] for r in rows]


def test_the_sql_function_agrees_on_every_case(module_db: str) -> None:
    cases = [(False, code) for code, _ in expected_cases() + ALIASES]
    cases += [(True, code) for code, _ in ALIASES]
    with psycopg.connect(module_db) as conn:
        got = _sql_classes(conn, cases)
    assert got == [error_class(s, c) for s, c in cases]


CODE_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[ \t]?[+-]?[0-9]{1,11}[ \n]?\Z"),
    st.from_regex(r"\A(?i:http)[ _.:/-]?[0-9]{2,4}\Z"),
    st.builds(
        lambda prefix, name: prefix + name,
        st.sampled_from(["", "a.", "x.y.", " ", "İ", "_"]),
        st.sampled_from(list(TABLE["names"]) + ["Timeout_Error", "İnvalidParams", "ſ"]),
    ),
).filter(lambda s: "\x00" not in s)


@settings(max_examples=300, deadline=None)
@given(codes=st.lists(CODE_TEXT, min_size=1, max_size=40))
def test_python_and_sql_agree_on_random_codes(module_db: str, codes: list[str]) -> None:
    with psycopg.connect(module_db) as conn:
        got = _sql_classes(conn, [(False, c) for c in codes])
    assert got == [error_class(False, c) for c in codes]


def _base(**kw: object) -> dict:
    event = {
        "execution_id": str(uuid.uuid4()),
        "bcp_name": "b",
        "tool_name": "t",
        "operation": "tools/call",
        "duration_ms": 5,
        "success": False,
    }
    event.update(kw)
    return event


def test_prepare_computes_the_class_and_replaces_a_given_one() -> None:
    assert prepare("tool_usage_logs", _base(error_code="-32601"))["error_class"] == "caller_error"
    row = prepare("tool_usage_logs", _base(error_code="tool_error", error_class="ok"))
    assert row["error_class"] == "tool_error"
    assert prepare("tool_usage_logs", _base(success=True))["error_class"] == "ok"
    with pytest.raises(EventError, match="error_class: must be one of"):
        prepare("tool_usage_logs", _base(error_class="fatal"))


def _stored(url: str, bcp: str) -> dict[str | None, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select error_code, error_class from tool_usage_logs where bcp_name = %s", (bcp,)
        ).fetchall()
    return {code: cls for code, cls in rows}


CODES = {
    None: "ok",
    "tool_error": "tool_error",
    "-32602": "caller_error",
    "-32603": "server_error",
    "TimeoutError": "transport_error",
}


def test_the_collector_stores_the_class(module_db: str, tmp_path: Path) -> None:
    bcp = f"collector-{uuid.uuid4().hex[:8]}"
    with Collector(module_db, spool_dir=tmp_path) as c:
        for code in CODES:
            c.record_tool_call(
                bcp_name=bcp, tool_name="t", operation="tools/call", success=code is None,
                duration_ms=3, error_code=code,
            )  # fmt: skip
    assert _stored(module_db, bcp) == CODES


def test_the_loader_stores_the_class(module_db: str, tmp_path: Path) -> None:
    bcp = f"loader-{uuid.uuid4().hex[:8]}"
    lines = [
        json.dumps(
            {"table": "tool_usage_logs", **_base(bcp_name=bcp, success=code is None)}
            | ({"error_code": code} if code else {})
            | {"timestamp": "2026-03-04T05:06:07Z"}
        )
        for code in CODES
    ]
    summary = load_text("\n".join(lines) + "\n", url=module_db, rejects_path=tmp_path / "r")
    assert (summary.loaded, summary.rejected) == (len(CODES), 0)
    assert _stored(module_db, bcp) == CODES


def test_the_otlp_receiver_stores_the_class(module_db: str, tmp_path: Path) -> None:
    bcp = f"otlp-{uuid.uuid4().hex[:8]}"
    spans = [
        otlp.mcp_span(),  # ok
        otlp.mcp_span(attrs={"error.type": "tool_error"}, status=(2, "")),
        otlp.mcp_span(attrs={"error.type": "-32602"}, status=(2, "bad params")),
        otlp.mcp_span(attrs={"rpc.response.status_code": "-32603"}, status=(2, "internal")),
        otlp.mcp_span(attrs={"error.type": "TimeoutError"}, status=(2, "slow")),
    ]
    body = otlp.traces(*spans, res=otlp.resource(bcp)).SerializeToString()
    with running(module_db, tmp_path / "spool") as r:
        answer = requests.post(
            r.url + "/v1/traces", data=body,
            headers={"Content-Type": "application/x-protobuf"}, timeout=30,
        )  # fmt: skip
        assert answer.status_code == 200
        assert wait_for(lambda: len(_stored(module_db, bcp)) == len(CODES))
    assert _stored(module_db, bcp) == CODES


def test_080_classifies_the_rows_stored_before_it(empty_db: str, tmp_path: Path) -> None:
    before = tmp_path / "bootstrap_sql"
    before.mkdir()
    for path in BOOTSTRAP.glob("*.sql"):
        if path.name < "080":
            shutil.copy(path, before / path.name)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        bootstrap(conn, before)
        for i, (code, _) in enumerate(ALIASES):
            conn.execute(
                "insert into tool_usage_logs (execution_id, bcp_name, tool_name, operation,"
                ' duration_ms, success, error_code, "timestamp")'
                " values (%s, 'b', 't', 'o', 1, %s, %s, now())",
                (f"old-{i}", i % 7 == 0, code),
            )
        conn.execute("delete from mart_dirty_buckets")
        bootstrap(conn, BOOTSTRAP)
        stored = conn.execute(
            "select success, error_code, error_class from tool_usage_logs"
            " order by split_part(execution_id, '-', 2)::integer"
        ).fetchall()
        marked = conn.execute(
            "select count(*) from mart_dirty_buckets where mart = 'hourly_tool_usage_summary'"
        ).fetchone()[0]
    assert [cls for *_, cls in stored] == [error_class(s, c) for s, c, _ in stored]
    assert {cls for *_, cls in stored} == set(ERROR_CLASSES)
    # the backfill marked the hours, so the marts' new columns are computed on the next build
    assert marked >= 1

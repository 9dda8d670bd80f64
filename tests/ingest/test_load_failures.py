"""One value never stops a load: each kind of bad input is a reject with its reason, the other
lines load, the summary is printed, and only a real stop (the database) has its own status.

The inputs of the report are in cases/ (copied from the shared cases); property tests generate
their like: arbitrary JSON values, strings, nesting and sizes either load or are rejected with a
reason, and never cost another line.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import uuid
import zlib
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_analytics.cli import main
from mcp_analytics.commands.ingest import EXIT_OK, EXIT_REJECTED, EXIT_STOPPED, EXIT_USAGE
from mcp_analytics.ingest.loader import RejectsFile, _Config, _prepare_line, load
from mcp_analytics.ingest.redaction import MAX_DEPTH, RedactionRules
from mcp_analytics.ingest.writer import RejectRecord
from tests.helpers.db import scalar

CASES = Path(__file__).parent / "cases"
TS = "2026-05-06T07:08:09Z"


def good(eid: str, **kw) -> str:
    event = {
        "table": "tool_usage_logs",
        "execution_id": eid,
        "bcp_name": "fail",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 5,
        "timestamp": TS,
        **kw,
    }
    return json.dumps(event)


def rejects_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def with_good_lines(tmp_path: Path, case: str) -> tuple[Path, str]:
    """The case file between two good lines (a bad line must not cost its neighbours)."""
    tag = uuid.uuid4().hex[:8]
    body = (CASES / case).read_bytes()
    path = tmp_path / case
    path.write_bytes(
        (good(f"{tag}-before") + "\n").encode() + body + (good(f"{tag}-after") + "\n").encode()
    )
    return path, tag


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("lone-surrogate-in-rejected-line.ndjson", "level: missing required field"),
        ("array-nested-5000-deep.ndjson", "invalid JSON: nested too deep to parse"),
        ("object-nested-980-deep.ndjson", f"parameters: nested deeper than {MAX_DEPTH} levels"),
        ("array-nested-300-deep.ndjson", f"parameters: nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_a_bad_value_is_a_reject_and_the_load_goes_on(
    module_db, tmp_path, cli_env, capsys, case, reason
):
    cli_env(module_db)
    path, tag = with_good_lines(tmp_path, case)
    rejects = tmp_path / "rejects.jsonl"
    status = main(["ingest", "-q", "--workers", "0", "--rejects", str(rejects), str(path)])
    out = capsys.readouterr().out
    assert status == EXIT_REJECTED and "rejected lines written to" in out
    found = rejects_of(rejects)
    assert found and all(reason in r["reason"] for r in found), found
    loaded = scalar(
        module_db, "select count(*) from tool_usage_logs where execution_id like %s", (f"{tag}%",)
    )
    # Both neighbours, and the case's own good lines (array-nested-300-deep has two).
    assert loaded >= 2
    assert scalar(
        module_db,
        "select count(*) from ingest_rejects where source_name = %s and reason like %s",
        (str(path), f"%{reason}%"),
    ) == len(found)
    for r in found:
        r["raw"].encode("utf-8")  # writable: no lone surrogate left in it
    if case.startswith("lone-surrogate"):
        # The reject keeps the line as it was sent: the JSON escape, as text.
        assert found[0]["raw"] == '{"table": "error_logs", "message": "\\ud800"}'
    else:
        # Nothing was cut: the raw line is whole (no marker in place of the deep part).
        sent = (CASES / case).read_text().splitlines()[found[0]["line"] - 2]
        assert "[TOO DEEP]" not in found[0]["raw"]
        assert len(found[0]["raw"]) >= len(sent) - 100


def test_byte_order_mark_is_ignored(module_db, tmp_path):
    path, tag = with_good_lines(tmp_path, "utf8-bom-at-start.ndjson")
    bom_first = tmp_path / "bom-first.ndjson"
    bom_first.write_bytes((CASES / "utf8-bom-at-start.ndjson").read_bytes())
    summary = load([bom_first, path], url=module_db, workers=0, rejects_path=tmp_path / "r")
    assert summary.rejected == 0, summary.render()
    assert summary.loaded + summary.duplicates == 6
    # Also when a worker process parses it, and on a line that is not the first of its file.
    assert _parse(b"\xef\xbb\xbf" + good("bom-x").encode())[0] == "tool_usage_logs"


def test_truncated_gzip_loads_every_readable_line(module_db, tmp_path, cli_env, capsys):
    cli_env(module_db)
    rejects = tmp_path / "rejects.jsonl"
    case = CASES / "gzip-truncated.ndjson.gz"
    readable, torn = _readable_lines(case)
    for workers in ("0", "1"):
        status = main(["ingest", "-q", "--workers", workers, "--rejects", str(rejects), str(case)])
        out = capsys.readouterr().out
        assert status == EXIT_REJECTED, out
        assert f"({len(readable) + 1} lines read)" in out and "rejected 1" in out
    found = rejects_of(rejects)
    assert len(found) == 2 and found[0]["line"] == len(readable) + 1
    assert "unreadable gzip data" in found[0]["reason"]
    assert found[0]["raw"] == torn and torn.startswith('{"table": "error_logs"')
    messages = {json.loads(line)["message"] for line in readable}
    stored = scalar(
        module_db,
        "select count(distinct message) from error_logs where message like 'gztrunc %%'",
    )
    assert stored == len(messages)


def test_corrupt_gzip_in_the_middle(module_db, tmp_path):
    """Damage after some members: the lines before load, the rest is one reject."""
    tag = uuid.uuid4().hex[:8]
    first = gzip.compress("".join(good(f"{tag}-{i}") + "\n" for i in range(50)).encode())
    path = tmp_path / "corrupt.ndjson.gz"
    path.write_bytes(first + b"\x1f\x8b\x08\x00garbage-not-deflate" * 3)
    summary = load([path], url=module_db, workers=0, rejects_path=tmp_path / "r.jsonl")
    assert summary.loaded == 50 and summary.rejected == 1, summary.render()


def test_a_fatal_error_has_its_own_status(tmp_path, cli_env, capsys):
    """The database unreachable: status 3, the summary printed, no traceback, no password."""
    path = tmp_path / "in.ndjson"
    path.write_text(good("fatal-1") + "\n")
    cli_env("postgresql://u:s3cr3t-pw@127.0.0.1:1/nowhere")
    status = main(["ingest", "-q", str(path)])
    out, err = capsys.readouterr()
    assert status == EXIT_STOPPED
    assert "loaded 0, duplicates 0, rejected 0" in out
    assert "the load stopped" in err and "run the same command again" in err
    assert "s3cr3t-pw" not in out + err and "Traceback" not in err
    assert main(["ingest", str(tmp_path / "missing.ndjson")]) == EXIT_USAGE


def test_a_folder_is_named_as_one(tmp_path, capsys):
    """A folder given for a file: a one-line usage error that says it is a folder, not missing."""
    status = main(["ingest", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == EXIT_USAGE
    assert f"{tmp_path} is a folder, not a file" in err and "no such file" not in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_exit_statuses_are_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = capsys.readouterr().out
    for status in (EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_STOPPED):
        assert f"\n  {status}  " in out


def test_rejects_file_is_private(tmp_path):
    path = tmp_path / "new-dir" / "rejects.jsonl"
    rejects = RejectsFile(path)
    rejects.write(RejectRecord(source="loader", reason="r", raw="\ud800 x\x00"))
    rejects.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert rejects_of(path)[0]["raw"] == "\\ud800 x\ufffd"


# -- properties ------------------------------------------------------------------------------

CONFIG = _Config(None, RedactionRules(), 65536)


def _parse(raw: bytes):
    out = _prepare_line(CONFIG, "src", 1, raw)
    return out if not isinstance(out, RejectRecord) else None


def _readable_lines(path: Path) -> tuple[list[str], str]:
    """The complete lines of a truncated gzip file and its torn tail, by zlib directly."""
    data = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).decode()
    *lines, torn = data.split("\n")
    return lines, torn


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text()
    | st.text(st.characters(categories=["Cs", "Cc", "L", "N", "P", "S", "Z"]), max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=50,
)


def _deep(depth: int, leaf: object = 1, kind: str = "list") -> object:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@st.composite
def lines(draw) -> bytes:
    """A line as anyone might send it: a good event with any JSON in its JSON fields, any
    value in any field, deep nesting, any text, any bytes, a BOM, a cut-off line."""
    kind = draw(st.sampled_from(["event", "field", "deep", "big", "text", "bytes", "cut"]))
    if kind == "event":
        event = json.loads(good("p"))
        event["parameters"] = draw(json_values)
        event["response_data"] = draw(json_values)
        text = json.dumps(event)
    elif kind == "field":
        event = json.loads(good("p"))
        event[draw(st.sampled_from([*event, "extra"]))] = draw(json_values)
        text = json.dumps(event)
    elif kind == "deep":
        depth = draw(st.integers(min_value=MAX_DEPTH - 2, max_value=3000))
        value = _deep(depth, kind=draw(st.sampled_from(["list", "dict"])))
        text = good("p")[:-1] + ', "parameters": ' + _dump_deep(value) + "}"
    elif kind == "big":
        # Sizes around the response cap (64 KB) and a line of a megabyte.
        size = draw(st.sampled_from([1, 65_000, 70_000, 1_000_000]))
        unit = draw(st.sampled_from(["x", "é", "password=hunter2 ", "4111 1111 1111 1111 "]))
        field = draw(st.sampled_from(["parameters", "response_data", "error_message"]))
        blob = (unit * (size // len(unit) + 1))[:size]
        event = json.loads(good("p"))
        event[field] = blob if field == "error_message" else {"blob": blob}
        text = json.dumps(event)
    elif kind == "text":
        text = draw(st.text(st.characters(categories=["Cs", "Cc", "L", "N", "P", "S", "Z"])))
    elif kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" ")
    else:
        text = json.dumps({**json.loads(good("p")), "parameters": draw(json_values)})
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.replace("\n", " ").encode("utf-8", "surrogatepass")


def _dump_deep(value: object) -> str:
    # json.dumps recurses; build the text of deep values by hand.
    depth = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else value["k"]
        depth += 1
    return "[" * depth + json.dumps(value) + "]" * depth


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_any_line_is_prepared_or_rejected_never_raises(raw):
    out = _prepare_line(CONFIG, "src", 7, raw)
    if out is None:  # blank
        assert not raw.decode("utf-8", "replace").replace("\ufeff", "", 1).strip()
    elif isinstance(out, RejectRecord):
        assert out.reason and out.line_number == 7
        json.dumps({"raw": out.raw, "reason": out.reason}, ensure_ascii=False)
    else:
        table, row, _ = out
        assert table == "tool_usage_logs" and row["execution_id"]
    # Both parsers agree on the verdict.
    slow = _prepare_line(CONFIG, "src", 7, raw, fast=False)
    assert type(slow) is type(out)


@pytest.fixture(scope="module")
def shared_conn(module_db):
    with psycopg.connect(module_db, autocommit=True) as conn:
        yield conn


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(lines(), min_size=1, max_size=8))
def test_no_line_costs_another(shared_conn, tmp_path, batch):
    """Any mix of lines: counts add up, every reject is in the file and the table with a
    reason, and the sentinel lines around them are stored."""
    tag = uuid.uuid4().hex
    body = [good(f"{tag}-first").encode(), *batch, good(f"{tag}-last").encode()]
    path = tmp_path / f"{tag}.ndjson"
    path.write_bytes(b"\n".join(body) + b"\n")
    rejects = tmp_path / f"{tag}.rejects.jsonl"
    summary = load([path], conn=shared_conn, workers=0, rejects_path=rejects, batch_rows=3)
    # a line reusing an earlier example's key with other values is a conflict (a reject too)
    not_stored = summary.rejected + summary.conflicts
    assert summary.loaded + summary.duplicates + not_stored == summary.lines
    found = rejects_of(rejects) if rejects.exists() else []
    assert len(found) == not_stored and all(r["reason"] for r in found)
    rows = shared_conn.execute(
        "select count(*) from tool_usage_logs where execution_id in (%s, %s)",
        (f"{tag}-first", f"{tag}-last"),
    ).fetchone()[0]
    assert rows == 2
    stored = shared_conn.execute(
        "select count(*) from ingest_rejects where source_name = %s", (str(path),)
    ).fetchone()[0]
    assert stored == len({(r["line"], r["raw"]) for r in found})


def test_rejects_folder_mode_does_not_loosen_an_existing_one(tmp_path):
    folder = tmp_path / "rej"
    folder.mkdir(mode=0o750)
    os.chmod(folder, 0o750)
    RejectsFile(folder / "x.jsonl").write(RejectRecord(source="loader", reason="r", raw="x"))
    assert stat.S_IMODE((folder / "x.jsonl").stat().st_mode) == 0o600


def test_torn_lines_leak_nothing_to_the_rejects_file_or_table(module_db, tmp_path):
    rejects = tmp_path / "torn.jsonl"
    case = CASES / "torn-lines-with-secrets.ndjson"
    summary = load([case], url=module_db, workers=0, rejects_path=rejects)
    assert summary.rejected == 2
    with psycopg.connect(module_db, autocommit=True) as conn:
        stored = conn.execute(
            "select string_agg(raw, ' ') from ingest_rejects where source_name = %s",
            (str(case),),
        ).fetchone()[0]
    for text in (rejects.read_text(), stored):
        for secret in ("hunter2hunter2", "eyJhbGciOiJIUzI1NiJ9", "s3ss10nS3cret"):
            assert secret not in text, secret
        assert "torn-1" in text  # the rest of the line is kept


def test_collector_rejects_odd_values_and_keeps_writing(module_db, tmp_path):
    """A lone surrogate or too deep a value in a rejected event is a reject, not an outage."""
    from mcp_analytics.collector import Collector

    deep = _deep(MAX_DEPTH + 50, kind="dict")
    cyclic: dict = {"password": "x"}
    cyclic["self"] = cyclic
    tag = uuid.uuid4().hex[:8]
    with Collector(module_db, spool_dir=tmp_path / "spool", batch_size=1000) as collector:
        collector.record_error(level="bogus", message=f"{tag} \ud800")
        collector.record_tool_call(
            bcp_name="b", tool_name="t", operation="o", success=True, duration_ms=1,
            parameters=deep, execution_id=f"{tag}-deep",
        )  # fmt: skip
        collector.record_tool_call(
            bcp_name="b", tool_name="t", operation="o", success=True, duration_ms=1,
            parameters=cyclic, execution_id=f"{tag}-cyclic",
        )  # fmt: skip
        collector.record_error(level="error", message=f"{tag} fine")
        assert collector.flush(10)
        stats = collector.stats
    assert stats["rejected"] == 3 and stats["written"] == 1 and stats["spooled"] == 0, stats
    with psycopg.connect(module_db, autocommit=True) as conn:
        raws = [
            r[0]
            for r in conn.execute(
                "select raw from ingest_rejects where source = 'collector' and raw like %s",
                (f"%{tag}%",),
            )
        ]
    assert len(raws) == 3
    assert any("\\ud800" in r for r in raws)
    assert sum("[TOO DEEP]" in r for r in raws) == 2
    assert not any('"password": "x"' in r for r in raws)

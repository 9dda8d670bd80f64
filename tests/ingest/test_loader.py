"""`mcp-analytics ingest`: good lines load, every kind of bad line is rejected and kept."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import psycopg

from mcp_analytics.cli import main
from mcp_analytics.ingest.loader import load
from tests.helpers.db import scalar

TS = "2026-05-06T07:08:09Z"


def tool(eid: str, **kw) -> dict:
    return {
        "table": "tool_usage_logs",
        "execution_id": eid,
        "bcp_name": "load",
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": 5,
        "timestamp": TS,
        **kw,
    }


def line(obj) -> str:
    return json.dumps(obj)


GOOD = [
    line(tool("g1", parameters={"q": "a", "api_key": "sk-LEAKME-1"})),
    line(
        {
            "table": "mcp_request_logs",
            "request_id": "g2",
            "method": "GET",
            "path": "/mcp",
            "response_status_code": 200,
            "duration_ms": 3,
            "success": True,
            "timestamp": TS,
            "request_headers": {"Authorization": "Bearer LEAKME-TOKEN-2"},
        }
    ),
    line({"table": "error_logs", "level": "error", "message": "g3", "timestamp": TS}),
    line(
        {
            "table": "performance_metrics",
            "metric_name": "g4",
            "metric_value": 1.5,
            "aggregation_period": "5m",
            "timestamp": TS,
            "labels": {"k": "v"},
        }
    ),
]

# (line text, expected reason fragment, expected table in the reject)
BAD = [
    ('{"table": "tool_usage_logs", "execution_id": ', "invalid JSON", None),
    ('{broken, "password": "LEAKME-3"}', "invalid JSON", None),
    ("[1, 2, 3]", "expected a JSON object", None),
    (line({k: v for k, v in tool("b1").items() if k != "table"}), "table: missing", None),
    (line({**tool("b2"), "table": "tool_usage"}), "unknown table", None),
    (
        line({k: v for k, v in tool("b3").items() if k != "bcp_name"}),
        "bcp_name: missing",
        "tool_usage_logs",
    ),
    (line(tool("b4", success="yes")), "success: expected true or false", "tool_usage_logs"),
    (
        line(tool("b5", duration_ms=2**31)),
        "duration_ms: 2147483648 is out of range",
        "tool_usage_logs",
    ),
    (
        line(tool("b6", timestamp="9999-12-31T23:59:59-12:00")),
        "more than 1 day ahead of receipt",
        "tool_usage_logs",
    ),
    (line(tool("b7", ip_address="not-an-ip")), "ip_address: not an IP", "tool_usage_logs"),
    (line(tool("b8", colour="red")), "colour: unknown field", "tool_usage_logs"),
    (
        line({k: v for k, v in tool("b9").items() if k != "timestamp"}),
        "timestamp: missing",
        "tool_usage_logs",
    ),
    (
        line(
            {
                "table": "error_logs",
                "level": "error",
                "message": "fk",
                "timestamp": TS,
                "resolved_by": 999999,
                "context": {"password": "LEAKME-4"},
            }
        ),
        "resolved_by: no user with id 999999 (users)",
        "error_logs",
    ),
]


def write_input(path) -> dict[int, tuple[str, str | None]]:
    """Good and bad lines interleaved; returns {line number: (reason, table)} of the bad ones."""
    lines, expected = [], {}
    for i, (text, reason, table) in enumerate(BAD):
        lines.append(GOOD[i % len(GOOD)].replace('"g', f'"g{i}-', 1) if i < 4 else "")
        lines.append(text)
        expected[len(lines)] = (reason, table)
    lines += GOOD
    raw = "\n".join(lines).encode() + b"\n" + b'{"table": "error_logs", "message": "\xff\xfe"}\n'
    expected[len(lines) + 1] = ("not valid UTF-8", None)
    path.write_bytes(raw)
    return expected


def test_bad_lines_are_rejected_good_lines_loaded(bootstrapped_db, tmp_path, cli_env, capsys):
    cli_env(bootstrapped_db)
    data = tmp_path / "events.ndjson"
    expected = write_input(data)
    rejects = tmp_path / "rejects.jsonl"

    code = main(["ingest", str(data), "--rejects", str(rejects), "--batch-rows", "3", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"rejected {len(expected)}" in out and str(rejects) in out
    assert "loaded 8, duplicates 0" in out  # the 4 good lines + 4 renamed copies between the bad

    got = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert {g["line"]: g for g in got}.keys() == expected.keys()
    for g in got:
        reason, table = expected[g["line"]]
        assert reason in g["reason"], (g, reason)
        assert g["table"] == table and g["source"] == str(data)
        assert g["raw"]
    # Nothing secret in the rejects file nor in any table.
    assert "LEAKME" not in rejects.read_text()
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        db_rejects = conn.execute(
            "select line_number, reason, raw from ingest_rejects where source = 'loader'"
        ).fetchall()
        dump = "\n".join(
            r[0]
            for t in ("tool_usage_logs", "mcp_request_logs", "error_logs", "ingest_rejects")
            for r in conn.execute(f"select x::text from {t} as x").fetchall()
        )
    assert sorted(r[0] for r in db_rejects) == sorted(expected)
    assert "LEAKME" not in dump and "[REDACTED]" in dump
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == 2
    assert scalar(bootstrapped_db, "select count(*) from performance_metrics") == 2

    # Loading the same file again: everything good is a duplicate, nothing new.
    code = main(["ingest", str(data), "--rejects", str(tmp_path / "r2.jsonl"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1 and "loaded 0, duplicates 8" in out
    assert scalar(bootstrapped_db, "select count(*) from ingest_rejects") == len(expected)


def test_clean_file_exit_zero_gzip_and_table_option(bootstrapped_db, tmp_path, cli_env, capsys):
    cli_env(bootstrapped_db)
    path = tmp_path / "metrics.ndjson.gz"
    rows = [
        {
            "metric_name": "m",
            "metric_value": i,
            "aggregation_period": "1m",
            "timestamp": f"2026-05-06T07:{i:02d}:00Z",
        }
        for i in range(50)
    ]
    rows[3]["table"] = "performance_metrics"  # naming the same table is fine
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["ingest", str(path), "--table", "performance_metrics", "-q"]) == 0
    assert "loaded 50, duplicates 0, rejected 0" in capsys.readouterr().out
    # Without --table the lines lack their table: all rejected, default rejects path printed.
    assert main(["ingest", str(path), "-q"]) == 1
    out = capsys.readouterr().out
    assert "rejected 49" in out and str(tmp_path / "state" / "rejects") in out
    assert main(["ingest", str(tmp_path / "missing.ndjson")]) == 2


def test_stdin_through_the_real_command(bootstrapped_db, tmp_path):
    lines = "\n".join(GOOD) + "\n"
    env = {**os.environ, "DATABASE_URL": bootstrapped_db, "MCPA_STATE_DIR": str(tmp_path)}
    env.pop("MCPA_INGEST_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_analytics.cli", "ingest", "-"],
        input=lines.encode(),
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"loaded 4, duplicates 0, rejected 0" in proc.stdout
    assert scalar(bootstrapped_db, "select count(*) from mcp_request_logs") == 1


def test_progress_and_large_chunks(bootstrapped_db, tmp_path):
    path = tmp_path / "many.ndjson"
    with path.open("w") as fh:
        for i in range(3000):
            fh.write(json.dumps(tool(f"m{i}")) + "\n")
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        summary = load(
            [path], conn=conn, batch_rows=1000, progress=True, rejects_path=tmp_path / "r.jsonl"
        )
    assert (summary.loaded, summary.duplicates, summary.rejected) == (3000, 0, 0)
    assert not (tmp_path / "r.jsonl").exists()  # no rejects, no file


def test_workers_option_in_process_and_in_workers_store_the_same(
    bootstrapped_db, tmp_path, cli_env, capsys
):
    cli_env(bootstrapped_db)
    path = tmp_path / "metrics.ndjson"
    rows = [
        {
            "table": "performance_metrics",
            "metric_name": "w",
            "metric_value": i,
            "aggregation_period": "1m",
            "timestamp": f"2026-05-06T08:{i:02d}:00Z",
        }
        for i in range(30)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    assert main(["ingest", str(path), "--workers", "0", "-q"]) == 1
    assert "loaded 30, duplicates 0, rejected 1" in capsys.readouterr().out
    # Through a worker process: the same rows are duplicates, the same line is rejected.
    assert main(["ingest", str(path), "--workers", "1", "-q"]) == 1
    assert "loaded 0, duplicates 30, rejected 1" in capsys.readouterr().out
    assert main(["ingest", str(path), "--workers", "-1"]) == 2


def test_rows_refused_by_postgres_inside_big_worker_chunks(bootstrapped_db, tmp_path):
    # Rows the server refuses although Python let them through (here a check constraint the
    # loader does not know about) in the middle of chunks that a worker prepared as one COPY
    # buffer: bisection finds them, the rejects name their lines.
    with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
        conn.execute(
            "alter table tool_usage_logs add constraint refuse_this check (operation <> 'refuse')"
        )
    path = tmp_path / "refused.ndjson"
    bad = {6, 1500, 2499, 2500}
    with path.open("w") as fh:
        for n in range(1, 2501):
            extra = {"operation": "refuse"} if n in bad else {"parameters": {"q": f"\ud800{n}"}}
            fh.write(json.dumps(tool(f"fk{n}", **extra)) + "\n")
    for workers, expect_loaded in ((1, 2496), (0, 0)):
        rejects = tmp_path / f"r{workers}.jsonl"
        with psycopg.connect(bootstrapped_db, autocommit=True) as conn:
            summary = load(
                [path], conn=conn, batch_rows=1000, workers=workers, rejects_path=rejects
            )
        assert (summary.loaded, summary.duplicates, summary.rejected) == (
            expect_loaded,
            2496 - expect_loaded,
            4,
        )
        got = {r["line"]: r for r in map(json.loads, rejects.read_text().splitlines())}
        assert got.keys() == bad
        assert all("refuse_this" in r["reason"] and f'"fk{n}"' in r["raw"] for n, r in got.items())
    assert scalar(bootstrapped_db, "select count(*) from tool_usage_logs") == 2496
    # The lone surrogate became "?" in the stored JSON, as on every other path.
    assert (
        scalar(
            bootstrapped_db, "select count(*) from tool_usage_logs where parameters->>'q' = '?7'"
        )
        == 1
    )

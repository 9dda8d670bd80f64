"""The project's macros: one per file, named after it, grouped in folders each with its yml, every
macro and argument documented, and bad arguments refused by a compiler error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcp_analytics.config import settings
from mcp_analytics.dbt.runner import run_dbt

from .project_copy import manifest

pytestmark = pytest.mark.slow

SIGNATURE = re.compile(r"{%-?\s*(?:macro|test)\s+(\w+)\s*\((.*?)\)\s*-?%}", re.S)
DISPATCHED = re.compile(r"^(?:default|postgres)__")


@pytest.fixture(scope="module")
def macros(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    target = tmp_path_factory.mktemp("dbt_parse")
    proc = run_dbt(["parse"], url=server_url, target_path=target, capture=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return {
        node["name"]: node
        for node in manifest(target)["macros"].values()
        if node["package_name"] == "mcp_analytics"
    }


def _arguments(macro: dict) -> list[str]:
    found = SIGNATURE.search(macro["macro_sql"])
    assert found, macro["name"]
    return [arg.split("=")[0].strip() for arg in found.group(2).split(",") if arg.strip()]


def test_one_macro_per_file_named_after_it(macros: dict[str, dict]) -> None:
    assert "mart_claim_dirty" in macros
    assert "test_unique_combination_of_columns" in macros
    for name, macro in macros.items():
        path = Path(macro["original_file_path"])
        # dbt's dispatch variants live with the macro they implement, a test with its name
        base = DISPATCHED.sub("", name).removeprefix("test_")
        assert path.stem == base, f"{name} is defined in {path}"
        assert path.parts[0] == "macros" and len(path.parts) == 3, path


def test_every_folder_has_its_yml_and_every_macro_is_documented(
    macros: dict[str, dict],
) -> None:
    macro_dir = settings().dbt_project_dir / "macros"
    for folder in (p for p in macro_dir.iterdir() if p.is_dir()):
        assert len(list(folder.glob("_*.yml"))) == 1, folder
    for name, macro in macros.items():
        if DISPATCHED.match(name):
            continue
        folder = Path(macro["original_file_path"]).parent
        assert macro["patch_path"], f"{name} is not documented"
        assert Path(macro["patch_path"].split("://")[-1]).parent == folder, name
        assert macro["description"].strip(), name
        documented = [argument["name"] for argument in macro["arguments"]]
        assert all(argument["description"] for argument in macro["arguments"]), name
        assert documented == _arguments(macro), name


@pytest.mark.parametrize(
    ("macro", "args", "message"),
    [
        (
            "mart_histogram_cte",
            "{relation: calls, group_columns: hour, value_column: duration_ms}",
            "mart_histogram_cte: group_columns must be a non-empty list of plain lowercase",
        ),
        (
            "mart_join_keys",
            "{left: calls, right: hours, columns: [hour, 'bcp_name; drop']}",
            "mart_join_keys: columns must be a plain lowercase identifier",
        ),
        (
            "mart_histogram_cte",
            "{relation: calls, group_columns: [hour], value_column: 'duration_ms; drop'}",
            "mart_histogram_cte: value_column must be a plain lowercase identifier",
        ),
        (
            "mart_dirty_buckets_config",
            "{time_column: time_bucket, raw_source: tool_usage_logs, retention_days: 730}",
            "mart_dirty_buckets_config: with raw_source, time_column must be 'hour' or 'day'",
        ),
        (
            "mart_dirty_buckets_config",
            "{time_column: day, retention_days: 1825}",
            "mart_dirty_buckets_config: retention_days and ledger_sources go with raw_source",
        ),
        (
            "mart_source_rows",
            "{relation: calls, alias: calls, time_column: at, grain: hour, columns: tool_name}",
            "mart_source_rows: columns must be a non-empty list of columns, got tool_name",
        ),
        (
            "mart_duration_stats",
            "{quantiles: [0.5, 95]}",
            "mart_duration_stats: a quantile is a number between 0 and 1, got 95",
        ),
        (
            "mart_rebuilt_rows_where",
            "{relation: analytics.mcp_sessions}",
            "mart_rebuilt_rows_where: relation must be a relation (the model under test",
        ),
    ],
)
def test_bad_arguments_are_a_compiler_error(
    server_url: str, tmp_path: Path, macro: str, args: str, message: str
) -> None:
    proc = run_dbt(
        ["run-operation", macro, "--args", args],
        url=server_url,
        target_path=tmp_path,
        capture=True,
    )
    assert proc.returncode != 0
    assert "Compilation Error" in proc.stdout, proc.stdout[-3000:]
    assert message in proc.stdout, proc.stdout[-3000:]

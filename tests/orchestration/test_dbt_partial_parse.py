"""dbt parses the project once per database and vars: the next invocation, in a target folder
of its own (the CLI's, a test's, a Dagster step's), re-reads only what changed instead of
saying "Unable to do partial parsing because profile has changed" and parsing it all again."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_analytics.config import settings
from mcp_analytics.dbt.partial_parse import PARTIAL_PARSE_FILE
from mcp_analytics.dbt.runner import run_dbt
from mcp_analytics.orchestration.lib.dbt_resource import build_dbt_resource

pytestmark = pytest.mark.slow

FULL = "Unable to do partial parsing"
PARTIAL = "Partial parsing enabled"


@pytest.fixture
def own_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """dbt's kept parse state in tmp_path (the settings' dbt target folder), not the checkout's."""
    monkeypatch.setenv("MCPA_STATE_DIR", str(tmp_path / "state"))
    settings.cache_clear()
    monkeypatch.setattr(type(settings()), "dbt_target_dir", property(lambda _: tmp_path / "t"))
    yield tmp_path / "t"
    settings.cache_clear()


def _ls(url: str, target: Path) -> str:
    proc = run_dbt(
        ["--debug", "ls", "--select", "marts"], url=url, target_path=target, capture=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def test_the_second_run_reuses_the_first_runs_parse(bootstrapped_db, own_target, tmp_path):
    first = _ls(bootstrapped_db, tmp_path / "one")
    assert FULL in first and PARTIAL not in first  # nothing kept yet: a whole parse
    assert (tmp_path / "one" / PARTIAL_PARSE_FILE).exists()
    second = _ls(bootstrapped_db, tmp_path / "two")
    assert PARTIAL in second and FULL not in second
    # other vars are another state (dbt would re-parse on them): kept apart, not overwritten
    other = run_dbt(
        ["--debug", "ls", "--vars", "{mart_exactness_scope: full}"],
        url=bootstrapped_db, target_path=tmp_path / "three", capture=True,
    )  # fmt: skip
    assert FULL in other.stdout
    assert PARTIAL in _ls(bootstrapped_db, tmp_path / "four")
    assert len(list((own_target / "partial_parse").glob("*.msgpack"))) == 2


def test_dagster_dbt_invocations_reuse_the_parse(bootstrapped_db, own_target):
    """The Dagster resource: each invocation in its own target folder, the second partial, and
    the third too (the second found nothing to re-parse and wrote no state of its own: what
    stays is the state it was given, not dagster-dbt's copy of the manifest's)."""
    dbt = build_dbt_resource(bootstrapped_db)
    logs = []
    for _ in range(3):
        invocation = dbt.cli(["--debug", "ls", "--select", "marts"], raise_on_error=True)
        messages = [event.raw_event["info"]["msg"] for event in invocation.stream_raw_events()]
        assert invocation.is_successful()
        logs.append("\n".join(str(m) for m in messages))
    assert FULL in logs[0]
    for log in logs[1:]:
        assert PARTIAL in log and FULL not in log

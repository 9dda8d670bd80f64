"""`mcp-analytics backup` into a path it cannot write: one clear line, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_analytics.cli import main


@pytest.mark.parametrize("under", ["x.dump", "deeper/x.dump"])
def test_a_path_through_a_file_is_refused_naming_the_file(
    cli_env: Callable[[str], None],
    empty_db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    under: str,
) -> None:
    # mkdir said only "[Errno 17] File exists: '<the file>'"
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    cli_env(empty_db)
    assert main(["backup", str(afile / under)]) == 2
    err = capsys.readouterr().err
    assert f"{afile} is a file, not a folder" in err, err
    assert "Traceback" not in err and "File exists" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert afile.read_text() == "not a folder"

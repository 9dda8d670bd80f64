"""The dbt resource keeps the newest invocation folders only (one per dbt run, ~10 MB each:
a sensor build every minute would otherwise fill the disk)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mcp_analytics.orchestration.lib.dbt_resource import (
    KEEP_INVOCATIONS,
    prune_folders,
    prune_invocations,
)


def _folder(root: Path, name: str, age_s: float) -> Path:
    path = root / name
    path.mkdir()
    (path / "manifest.json").write_text("{}")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_only_the_newest_invocation_folders_are_kept(tmp_path: Path) -> None:
    old = [
        _folder(tmp_path, f"dbt_models-{i:07x}-{i + 1:07x}", age_s=7200 + 60 * i) for i in range(30)
    ]
    bare = _folder(tmp_path, "abcdef0", age_s=99_999)  # an invocation without a Dagster run
    young = _folder(tmp_path, "dbt_models-fffffff-0000000", age_s=5)
    # dbt's own files and folders are never touched, however old
    own = [_folder(tmp_path, name, age_s=99_999) for name in ("compiled", "run", "partial_parse")]
    (tmp_path / "manifest.json").write_text("{}")

    removed = prune_invocations(tmp_path)

    kept = {p for p in tmp_path.iterdir() if p.is_dir()}
    # the newest KEEP_INVOCATIONS by time: the young one and the 19 youngest old ones
    assert kept == {young, *old[: KEEP_INVOCATIONS - 1], *own}
    assert set(removed) == {*old[KEEP_INVOCATIONS - 1 :], bare}
    assert (tmp_path / "manifest.json").exists()


def test_a_folder_younger_than_an_hour_is_never_removed(tmp_path: Path) -> None:
    recent = [_folder(tmp_path, f"{i:07x}", age_s=10 + i) for i in range(KEEP_INVOCATIONS + 5)]
    assert prune_invocations(tmp_path) == []
    assert all(p.exists() for p in recent)
    assert prune_invocations(tmp_path / "missing") == []


def test_a_folder_removed_by_another_invocation_meanwhile_is_skipped(tmp_path: Path) -> None:
    """Two invocations prune at once: folders listed by one and removed by the other before
    their time is read are skipped, the others pruned as usual."""
    listed = [
        _folder(tmp_path, f"{i:07x}", age_s=7200 + 60 * i) for i in range(KEEP_INVOCATIONS + 3)
    ]
    gone = [listed[0], listed[-1]]  # the newest and the oldest, removed by the other one
    for folder in gone:
        shutil.rmtree(folder)

    removed = prune_folders(listed)

    left = [p for p in listed if p not in gone]
    assert removed == left[KEEP_INVOCATIONS:]
    assert sorted(p for p in tmp_path.iterdir()) == left[:KEEP_INVOCATIONS]

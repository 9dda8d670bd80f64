"""Fixtures of the OTLP receiver's tests (the receiver itself: tests/helpers/otlp_receiver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.otlp_receiver import Running, running


@pytest.fixture
def receiver(bootstrapped_db: str, tmp_path: Path) -> Iterator[Running]:
    with running(bootstrapped_db, tmp_path / "spool") as r:
        yield r

"""Recording through the collector, and waiting for its writer thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def record_call(collector: Any, bcp: str, i: int) -> str:
    """The minimal tool call the collector tests record (`duration_ms` and `parameters` = i);
    returns its execution_id."""
    return collector.record_tool_call(
        bcp_name=bcp,
        tool_name="t",
        operation="o",
        success=True,
        duration_ms=i,
        parameters={"i": i},
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `predicate()` every 50 ms until it is true or `timeout` seconds have passed;
    returns its last value (the collector and the OTLP receiver write on their own threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()

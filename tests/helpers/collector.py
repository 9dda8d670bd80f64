"""Recording through the collector, and waiting for its writer thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def record_call(collector: Any, bcp: str = "b", i: int = 1, **fields: Any) -> str:
    """The minimal tool call the collector tests record: server `bcp`, tool "t", operation
    "o", a success of `i` ms with parameters {"i": i}; `fields` add to it or replace any of
    those (`success=False`, `parameters=...`). Returns its execution_id."""
    call: dict[str, Any] = {
        "bcp_name": bcp,
        "tool_name": "t",
        "operation": "o",
        "success": True,
        "duration_ms": i,
        "parameters": {"i": i},
    }
    return collector.record_tool_call(**(call | fields))


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `predicate()` every 50 ms until it is true or `timeout` seconds have passed;
    returns its last value (the collector and the OTLP receiver write on their own threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()

"""The ratios the pages show, None where the denominator is zero."""

from __future__ import annotations


def rate(part: float, whole: float) -> float | None:
    """part / whole, None when whole is 0 (an error rate of no calls is no rate)."""
    return part / whole if whole else None


def server_fault_rate(errors: int, caller_errors: int, calls: int) -> float | None:
    """Failures by the server's fault (tool, server, transport errors) per call, caller
    errors counted neither as failures nor as calls (as the error budget counts)."""
    return rate(errors - caller_errors, calls - caller_errors)

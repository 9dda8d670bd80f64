"""The ratios the pages show, None where the denominator is zero."""

from __future__ import annotations

from typing import overload


def rate(part: float, whole: float) -> float | None:
    """part / whole, None when whole is 0 (an error rate of no calls is no rate)."""
    return part / whole if whole else None


def server_fault_rate(errors: int, caller_errors: int, calls: int) -> float | None:
    """Failures by the server's fault (tool, server, transport errors) per call, caller
    errors counted neither as failures nor as calls (as the error budget counts)."""
    return rate(errors - caller_errors, calls - caller_errors)


class Ratio:
    """A read-only attribute of a page's class: `rate` of two of its other attributes.

    `error_rate = Ratio("errors", "calls")` reads `rate(obj.errors, obj.calls)`: a float, or
    None when the whole is 0; on the class itself, the Ratio.
    """

    def __init__(self, part: str, whole: str) -> None:
        self.part = part
        self.whole = whole

    @overload
    def __get__(self, obj: None, owner: type) -> Ratio: ...

    @overload
    def __get__(self, obj: object, owner: type) -> float | None: ...

    def __get__(self, obj: object | None, owner: type) -> Ratio | float | None:
        if obj is None:
            return self
        return rate(getattr(obj, self.part), getattr(obj, self.whole))

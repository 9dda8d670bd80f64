"""The one report shape of the warehouse operations (retention, partition upkeep, archive export).

Each operation returns a frozen dataclass with `describe()` (the text the CLI prints and Dagster
shows in the run's metadata) and `as_metadata()` (flat numbers per table, which Dagster plots
over runs). Values are plain Python, so this package needs no Dagster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, overload

#: A metadata value: what Dagster accepts as raw metadata without wrapping.
MetadataValue = int | float | str | bool


class OperationReport(Protocol):
    def describe(self) -> str:
        """Human-readable report, several lines."""
        ...

    def as_metadata(self) -> dict[str, MetadataValue]:
        """Flat `name` or `name/table` -> value pairs."""
        ...


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Fixed-width columns: the header, a rule of dashes, then one line per row."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def elapsed_ms(started: float, now: float) -> int:
    """Milliseconds between two `time.monotonic()` readings."""
    return int((now - started) * 1000)


class Total:
    """A read-only attribute of a report: the sum of `field` over the items of its attribute
    `over` (a None counted as 0).

    `rows_deleted = Total("rows_deleted")` reads `sum(r.rows_deleted or 0 for r in
    obj.results)`, an int; on the class itself, the Total.
    """

    def __init__(self, field: str, over: str = "results") -> None:
        self.field = field
        self.over = over

    @overload
    def __get__(self, obj: None, owner: type) -> Total: ...

    @overload
    def __get__(self, obj: object, owner: type) -> int: ...

    def __get__(self, obj: object | None, owner: type) -> Total | int:
        if obj is None:
            return self
        items: Iterable[object] = getattr(obj, self.over)
        return sum(getattr(item, self.field) or 0 for item in items)

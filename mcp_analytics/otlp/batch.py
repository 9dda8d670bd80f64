"""Mapped OTLP events -> prepared rows and rejects, the same preparation as every ingest path.

Each event goes through `ingest.events.prepare` (validation, redaction, caps). An item (span,
data point or log record) is refused as a whole when any of its events cannot be prepared, so a
span never lands half: its reason is recorded in `ingest_rejects` (source `otlp`, the item's
OTLP/JSON as raw text, redacted) and it counts as rejected in the partial-success answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_analytics.ingest.events import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_WINDOW,
    EventError,
    TimeWindow,
    canonical_json_of_redacted,
    prepare,
)
from mcp_analytics.ingest.redaction import DEFAULT_RULES, RedactionRules
from mcp_analytics.ingest.writer import RejectRecord
from mcp_analytics.otlp.mapping import Mapped


@dataclass
class Prepared:
    """Rows ready for `writer.write_batch`, the rejects to record with them, and counts."""

    signal: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejects: list[RejectRecord] = field(default_factory=list)
    items: int = 0
    rejected: int = 0
    dropped: int = 0
    #: the first few reasons, for the partial-success message
    reasons: list[str] = field(default_factory=list)
    #: values changed to fit, "<table>.<column>: <what>" -> count (stored rows only)
    altered: Counter[str] = field(default_factory=Counter)
    #: times stored although ahead of receipt by more than the window's warn_ahead, by column
    ahead: Counter[str] = field(default_factory=Counter)

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def message(self) -> str:
        """The partial-success error message ('' when nothing was rejected)."""
        if not self.rejected:
            return ""
        shown = "; ".join(self.reasons[:3])
        more = "" if len(self.reasons) <= 3 else f" (and {len(self.reasons) - 3} more)"
        return (
            f"{self.rejected} of {self.items} {_ITEM_NAMES[self.signal]} could not be stored: "
            f"{shown}{more}. They are kept with their reasons in ingest_rejects."
        )


_ITEM_NAMES = {"traces": "spans", "metrics": "data points", "logs": "log records"}


def prepare_mapped(
    mapped: Mapped,
    *,
    source_name: str,
    rules: RedactionRules = DEFAULT_RULES,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    window: TimeWindow = DEFAULT_WINDOW,
    max_reasons: int = 20,
) -> Prepared:
    """Prepare every event of `mapped`; refuse whole items whose events do not prepare.

    Event times outside `window` (the `analytics.event_time_window` setting, docs/ingest.md
    "Event times") refuse their item; changed values and times ahead are counted on the result
    for the items stored, as the loader and the collector count them.
    """
    out = Prepared(mapped.signal, items=mapped.items, dropped=mapped.dropped)
    refused: dict[int, str] = {r.item: r.reason for r in mapped.refusals}
    ready: list[tuple[int, str, dict[str, Any], Counter[str], Counter[str]]] = []
    for item, table, event in mapped.events:
        if item in refused:
            continue
        present = {k: v for k, v in event.items() if v is not None}
        altered: Counter[str] = Counter()
        ahead: Counter[str] = Counter()
        try:
            row = prepare(
                table,
                present,
                rules=rules,
                max_response_bytes=max_response_bytes,
                window=window,
                altered=altered,
                ahead=ahead,
            )
        except EventError as err:
            refused[item] = f"{table}: {err}"
            continue
        ready.append((item, table, row, altered, ahead))
    for item, table, row, altered, ahead in ready:
        if item not in refused:
            out.rows.setdefault(table, []).append(row)
            out.altered.update(altered)
            out.ahead.update(ahead)
    for item in sorted(refused):
        reason = refused[item]
        out.rejects.append(
            RejectRecord(
                source="otlp",
                reason=reason,
                raw=_redacted_raw(mapped.raw_of, item, rules),
                source_name=source_name,
                line_number=item + 1,
                target_table=_target(reason),
            )
        )
        if len(out.reasons) < max_reasons:
            out.reasons.append(f"item {item + 1}: {reason}")
    out.rejected = len(refused)
    return out


def _target(reason: str) -> str | None:
    head = reason.split(":", 1)[0]
    return head if head.endswith("_logs") or head == "performance_metrics" else None


def _redacted_raw(raw_of: Callable[[int], Any], item: int, rules: RedactionRules) -> str:
    try:
        return canonical_json_of_redacted(rules.value(raw_of(item)))
    except Exception as err:  # noqa: BLE001 - the reason must be kept even if the raw is not
        return f"(raw text unavailable: {type(err).__name__})"

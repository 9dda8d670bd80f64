"""The time window a page shows: a preset (last hour ... 90 days) or a custom range of days.

Hour presets end with the current UTC hour and read the hourly marts; day presets are whole UTC
days ending with today and read the daily marts, so a 90-day page aggregates 90 rows per tool
rather than 2,160. A custom range of dates is read by the hour up to 7 days, by the day beyond.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

Grain = Literal["hour", "day"]

#: key -> (label, span, grain)
PRESETS: dict[str, tuple[str, timedelta, Grain]] = {
    "1h": ("last hour", timedelta(hours=1), "hour"),
    "6h": ("last 6 hours", timedelta(hours=6), "hour"),
    "24h": ("last 24 hours", timedelta(hours=24), "hour"),
    "7d": ("last 7 days", timedelta(days=7), "hour"),
    "30d": ("last 30 days", timedelta(days=30), "day"),
    "90d": ("last 90 days", timedelta(days=90), "day"),
}
DEFAULT = "24h"
MAX_CUSTOM_DAYS = 400
HOURLY_UP_TO = timedelta(days=7)


class WindowError(ValueError):
    """A window the page cannot show (the message says what to enter instead)."""


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC, read in buckets of `grain`.

    Attributes:
        key: a key of PRESETS, or "custom".
        label: what the page calls it.
    """

    key: str
    label: str
    start: datetime
    end: datetime
    grain: Grain

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.grain == "hour" else timedelta(days=1)

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window(
            self.key, f"previous {self.label}", self.start - self.span, self.start, self.grain
        )

    def buckets(self) -> list[datetime]:
        """Start of every bucket of the window, oldest first."""
        out, at = [], self.start
        while at < self.end:
            out.append(at)
            at += self.step
        return out

    def params(self) -> dict[str, str]:
        """Query parameters that select this window again."""
        if self.key != "custom":
            return {"window": self.key}
        last_day = (self.end - timedelta(days=1)).date()
        return {"window": "custom", "from": self.start.date().isoformat(), "to": str(last_day)}

    def query(self, **extra: str) -> str:
        """`window=...` (and from/to) plus `extra`, URL-encoded."""
        return urlencode({**self.params(), **{k: v for k, v in extra.items() if v}})


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise WindowError(f"'{name}' must be a date as YYYY-MM-DD, got {text!r}") from None


def parse_window(params: Mapping[str, str], now: datetime | None = None) -> Window:
    """The window of a request's query (`window`, and `from`/`to` for a custom range).

    Raises:
        WindowError: an unknown preset, a malformed or reversed date range, or a range of more
            than MAX_CUSTOM_DAYS days.
    """
    now = now or datetime.now(UTC)
    key = params.get("window") or DEFAULT
    if key in PRESETS:
        label, span, grain = PRESETS[key]
        if grain == "hour":
            end = _floor_hour(now) + timedelta(hours=1)
        else:
            end = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
            end += timedelta(days=1)
        return Window(key, label, end - span, end, grain)
    if key != "custom":
        raise WindowError(f"unknown window {key!r}: choose one of {', '.join(PRESETS)} or custom")
    first = _parse_day(params.get("from", ""), "from")
    last = _parse_day(params.get("to", ""), "to")
    if last < first:
        raise WindowError("'to' must not be before 'from'")
    days = (last - first).days + 1
    if days > MAX_CUSTOM_DAYS:
        raise WindowError(f"a custom range may span at most {MAX_CUSTOM_DAYS} days")
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = start + timedelta(days=days)
    custom_grain: Grain = "hour" if end - start <= HOURLY_UP_TO else "day"
    return Window("custom", f"{first} to {last}", start, end, custom_grain)

"""Percentiles of merged latency histograms, read exactly as the warehouse's SQL reads them.

The marts store `duration_histogram` as {bucket index: count} (bootstrap_sql/011) and, in the
tool marts, `duration_histogram_packed`: one numeric in which bucket i owns the 16 digits at
10^(16 * (i + 1665)) (bootstrap_sql/105), so a group's histogram is `sum()` of its rows, added
up by PostgreSQL. A page asks for the sums of its groups as text (`packed_text`) and reads the
digits here (`Histogram.from_packed`): one vectorised pass, no per-bucket parse. Marts without
a packed column (the request mart) send their jsonb as text, read in one pass too
(`Histogram.from_jsonb`).

Quantiles follow `mart_hist_quantile` step for step (bucket representative values,
percentile_cont's interpolation between the order statistics at floor and ceil of q * (n - 1)),
in the same floating-point operations, so a page shows the number the documented SQL call
returns, within 1/128 of the exact percentile of the raw rows. Reading them in Python avoids
one SQL function call per chart bucket (~10 ms each on the packed form).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate

import numpy as np

#: the lowest bucket of a packed histogram (-2^31's); its field is the number's last 16 digits
LOW = -1665
#: 10^(16 * 1665): below it, the fields of the negative buckets (durations are never negative)
_SHIFT = "1e26640"
_POWERS = 10 ** np.arange(15, -1, -1, dtype=np.int64)
_JSON_PUNCTUATION = str.maketrans('{}":,', "     ")


def bucket_value(index: int) -> float:
    """Representative value of a bucket (`mart_hist_bucket_value`): the midpoint of the
    integers it holds (0..127 are exact; above, 64 sub-buckets per power of two)."""
    if 0 <= index < 128:
        return float(index)
    if index >= 128:
        octave = index // 64 - 1
        return float(index - 64 * octave) * float(1 << octave) + float((1 << octave) - 1) / 2
    return -bucket_value(-1 - index)


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """The histogram of all values of `histograms` (counts added bucket by bucket)."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            total[index] = total.get(index, 0) + count
    return total


def quantiles(histogram: Mapping[int, int], qs: Sequence[float]) -> list[float | None]:
    """`mart_hist_quantiles(histogram, qs)`: one value per q in 0..1; Nones when empty.

    Buckets are ordered by index (their representative values rise with it), the order
    statistics found by bisection in the running counts; only the buckets a quantile lands in
    are turned into values.

    Raises:
        ValueError: a q outside 0..1.
    """
    indexes = sorted(i for i, n in histogram.items() if n)
    return _quantiles(indexes, list(accumulate(histogram[i] for i in indexes)), qs)


def _quantiles(
    indexes: Sequence[int], cumulative: Sequence[int], qs: Sequence[float]
) -> list[float | None]:
    """Quantiles of non-empty buckets `indexes` (rising) with running counts `cumulative`."""
    if any(not 0 <= q <= 1 for q in qs):
        raise ValueError(f"quantiles must be between 0 and 1, got {list(qs)}")
    if not indexes:
        return [None] * len(qs)
    total, last = cumulative[-1], len(indexes) - 1

    def at_rank(rank: float) -> float:
        # the first bucket whose cumulative count exceeds the 0-based rank
        return bucket_value(indexes[min(bisect_right(cumulative, rank), last)])

    out: list[float | None] = []
    for q in qs:
        rank_pos = q * (total - 1)
        lo, hi = math.floor(rank_pos), math.ceil(rank_pos)
        value_lo, value_hi = at_rank(lo), at_rank(hi)
        out.append(value_lo + (rank_pos - lo) * (value_hi - value_lo))
    return out


def packed_text(total: str) -> str:
    """SQL: the text of a packed histogram expression `total` (such as
    `sum(duration_histogram_packed)`) that `Histogram.from_packed` reads. Without negative
    buckets (durations: always) the number is divided by 10^(16 * 1665) first, exactly, so a
    quarter of the digits travel; otherwise it is sent whole, marked with a leading `n`.
    NULL stays NULL (a group without histograms)."""
    shifted = f"trunc({total} / {_SHIFT})"
    return (
        f"case when {shifted} * {_SHIFT} = {total} then {shifted}::text"
        f" else 'n' || trunc({total})::text end"
    )


class Histogram:
    """A latency histogram as a dense run of bucket counts: `counts[k]` is bucket
    `offset + k`. Adding is a vector addition; equal when the same buckets hold the same
    counts."""

    __slots__ = ("counts", "offset")

    def __init__(self, offset: int = 0, counts: np.ndarray | None = None) -> None:
        self.offset = offset
        self.counts = counts if counts is not None else np.zeros(0, dtype=np.int64)

    @classmethod
    def parse(cls, text: str | None) -> Histogram:
        """The histogram of either text: `packed_text`'s, or jsonb histograms (`{...}`,
        several joined by spaces, as `string_agg(duration_histogram::text, ' ')` gives).

        Raises:
            ValueError: text that is neither.
        """
        if text and text[0] == "{":
            return cls.from_jsonb([text])
        return cls.from_packed(text)

    @classmethod
    def from_packed(cls, text: str | None) -> Histogram:
        """The histogram of `packed_text`'s output (None or "0": empty).

        Raises:
            ValueError: text that is not a packed histogram's digits.
        """
        if not text or text == "0":
            return cls()
        whole = text[0] == "n"
        digits = text[1:] if whole else text
        # fields come highest bucket first; the last one is bucket LOW (whole) or 0 (shifted)
        padded = digits.rjust(-(-len(digits) // 16) * 16, "0").encode("ascii", "replace")
        values = np.frombuffer(padded, np.uint8).reshape(-1, 16) - np.uint8(48)
        if (values > 9).any():  # uint8: a character below '0' wraps around too
            raise ValueError(f"not a packed histogram: {text[:40]!r}")
        fields = values.astype(np.int64) @ _POWERS
        return cls(LOW if whole else 0, np.ascontiguousarray(fields[::-1]))

    @classmethod
    def from_jsonb(cls, texts: Iterable[str | None]) -> Histogram:
        """The sum of jsonb histograms ({"bucket": count, ...} as text), read in one pass."""
        joined = " ".join(t for t in texts if t).translate(_JSON_PUNCTUATION)
        pairs = np.fromstring(joined, dtype=np.int64, sep=" ") if joined.strip() else None
        if pairs is None or not pairs.size:
            return cls()
        indexes, counts = pairs[0::2], pairs[1::2]
        low = int(indexes.min())
        dense = np.zeros(int(indexes.max()) - low + 1, dtype=np.int64)
        np.add.at(dense, indexes - low, counts)
        return cls(low, dense)

    def add(self, other: Histogram) -> None:
        """Add `other`'s counts to this histogram (in place)."""
        if not other.counts.size:
            return
        if not self.counts.size:
            self.offset, self.counts = other.offset, other.counts.copy()
            return
        low = min(self.offset, other.offset)
        high = max(self.offset + self.counts.size, other.offset + other.counts.size)
        if low != self.offset or high != self.offset + self.counts.size:
            grown = np.zeros(high - low, dtype=np.int64)
            grown[self.offset - low : self.offset - low + self.counts.size] = self.counts
            self.offset, self.counts = low, grown
        start = other.offset - self.offset
        self.counts[start : start + other.counts.size] += other.counts

    def buckets(self) -> dict[int, int]:
        """{bucket index: count} of the non-empty buckets, lowest first."""
        nonzero = np.flatnonzero(self.counts)
        indexes = (nonzero + self.offset).tolist()
        return dict(zip(indexes, self.counts[nonzero].tolist(), strict=True))

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """`mart_hist_quantiles` of this histogram, as `quantiles` (same operations).

        Raises:
            ValueError: a q outside 0..1.
        """
        nonzero = np.flatnonzero(self.counts)
        cumulative = np.cumsum(self.counts[nonzero]).tolist()
        return _quantiles((nonzero + self.offset).tolist(), cumulative, qs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Histogram) and self.buckets() == other.buckets()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Histogram({self.buckets()})"

"""Percentiles of merged latency histograms, read exactly as the warehouse's SQL reads them.

The marts store `duration_histogram` as {bucket index: count} (bootstrap_sql/011). A window's
histogram is the sum of its rows' histograms; its quantiles here follow `mart_hist_quantile`
step for step (bucket representative values, percentile_cont's interpolation between the
order statistics at floor and ceil of q * (n - 1)), in the same floating-point operations, so
a page shows the number the documented SQL call returns, within 1/128 of the exact percentile
of the raw rows. Merging and reading in Python avoids one SQL function call per chart bucket.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate


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
    if any(not 0 <= q <= 1 for q in qs):
        raise ValueError(f"quantiles must be between 0 and 1, got {list(qs)}")
    indexes = sorted(i for i, n in histogram.items() if n)
    if not indexes:
        return [None] * len(qs)
    cumulative = list(accumulate(histogram[i] for i in indexes))
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

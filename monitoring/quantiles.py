"""Percentiles from histogram buckets, interpolated as Prometheus's histogram_quantile does.

`buckets` maps each upper bound (`le`, +Inf included) to how many observations fell at or
under it in the interval (cumulative, as exposed). The rank q·total is found in the first
bucket reaching it and interpolated linearly inside that bucket, whose lower bound is the
previous upper bound (0 for the first). A rank in the +Inf bucket answers the highest finite
bound, as Prometheus does. No observations: None (no data, not zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    counts = _monotonic([buckets[b] for b in bounds])
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2] if len(bounds) > 1 else None
    lower, below = (bounds[index - 1], counts[index - 1]) if index > 0 else (0.0, 0.0)
    upper, inside = bounds[index], counts[index] - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


def _monotonic(counts: list[float]) -> list[float]:
    """Cumulative counts never decrease; a scrape racing a write may show one that does."""
    fixed, highest = [], 0.0
    for count in counts:
        highest = max(highest, count)
        fixed.append(highest)
    return fixed

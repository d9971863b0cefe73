"""Counters into increases between two scrapes, with Prometheus's handling of resets.

A counter that went down was reset (its process restarted): everything it holds now was
counted since the reset, so the increase is its current value. A series that appears in a
replica scraped before counts from zero (prometheus_client shows a labelled series only once it
first counts: the first 404 of a replica makes its `code="404"` series appear). A replica seen
for the first time has no increases at all, only a baseline for its next scrape (so a console
restart never counts a replica's whole history as one interval): callers do not ask.
"""

from __future__ import annotations

import math

from monitoring.prometheus import Samples

COUNTER_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def is_cumulative(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


def increase(previous: float, current: float) -> float:
    """How much a counter grew from `previous` to `current`; a drop means it was reset."""
    return current - previous if current >= previous else current


def increases(previous: Samples, current: Samples) -> Samples:
    """The increase of every cumulative series of a replica since its `previous` scrape (new series from 0)."""
    return {key: increase(previous.get(key, 0.0), value) for key, value in current.items() if is_cumulative(key[0])}


def reset_detected(previous: Samples, current: Samples) -> bool:
    """Did any cumulative series go down (the replica restarted between the scrapes)?"""
    return any(is_cumulative(key[0]) and key in previous and value < previous[key] for key, value in current.items())


def baseline(samples: Samples) -> Samples:
    """What the next scrape's increases need of this one: its cumulative series (finite values, storable as JSON)."""
    return {key: value for key, value in samples.items() if is_cumulative(key[0]) and math.isfinite(value)}

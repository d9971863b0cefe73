"""Counters into increases between two scrapes, with Prometheus's handling of resets.

A counter that went down was reset (its process restarted): everything it holds now was
counted since the reset, so the increase is its current value. A series seen for the first
time has no increase yet: its value is only the baseline for the next scrape (so a console
restart never counts a replica's whole history as one interval).
"""

from __future__ import annotations

from monitoring.prometheus import Samples

COUNTER_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def is_cumulative(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


def increase(previous: float, current: float) -> float:
    """How much a counter grew from `previous` to `current`; a drop means it was reset."""
    return current - previous if current >= previous else current


def increases(previous: Samples, current: Samples) -> Samples:
    """The increase of every cumulative series present in both scrapes."""
    return {key: increase(previous[key], value) for key, value in current.items()
            if is_cumulative(key[0]) and key in previous}


def reset_detected(previous: Samples, current: Samples) -> bool:
    """Did any cumulative series go down (the replica restarted between the scrapes)?"""
    return any(is_cumulative(key[0]) and key in previous and value < previous[key] for key, value in current.items())

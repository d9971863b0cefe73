"""Per-request metrics, written every few milliseconds instead of on every change.

prometheus_client's multiprocess values are memory-mapped files written under a lock on each
change (~2 µs apiece); a predict request used to change five. Here the in-flight gauge, the
request counts and the latency histogram's buckets are plain numbers, written at most
`WRITE_EVERY_S` after they changed (before the access log lines of the same requests, see
serving.access_log). A scrape answered by this worker writes first, so it counts itself.

The histogram is added to in bulk through its child's `_sum` and `_buckets` values (what its
`observe()` increments, one at a time); should a prometheus_client release lack them, each
latency is observed as it comes.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any

from serving.metrics import ServerMetrics

WRITE_EVERY_S = 0.005


class RequestMetrics:
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics
        self._in_flight = 0
        self._in_flight_written = 0
        self._counts: dict[tuple[str, int], int] = {}
        self._counters: dict[tuple[str, int], Any] = {}
        self._latencies: dict[str, _Latencies] = {}
        self._due = False

    def started(self) -> None:
        self._in_flight += 1
        self._write_soon()

    def finished(self, route: str, status: int, seconds: float) -> None:
        self._in_flight -= 1
        key = (route, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        latencies = self._latencies.get(route)
        if latencies is None:
            latencies = self._latencies[route] = _Latencies(self._metrics.latency.labels(route))
        latencies.add(seconds)
        self._write_soon()

    def abandoned(self) -> None:
        """A request that got no answer (cancelled, connection broken): no longer in flight."""
        self._in_flight -= 1
        self._write_soon()

    def write(self) -> None:
        self._due = False
        if self._in_flight != self._in_flight_written:
            self._metrics.in_flight.set(self._in_flight)
            self._in_flight_written = self._in_flight
        counts, self._counts = self._counts, {}
        for key, count in counts.items():
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self._metrics.requests.labels(key[0], str(key[1]))
            counter.inc(count)
        for latencies in self._latencies.values():
            latencies.write()

    def _write_soon(self) -> None:
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_later(WRITE_EVERY_S, self.write)


class _Latencies:
    """One route's latencies since the last write: a count per histogram bucket, and their sum."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bulk = all(hasattr(child, name) for name in ("_sum", "_buckets", "_upper_bounds"))
        self.bounds = list(child._upper_bounds) if self.bulk else []
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def add(self, seconds: float) -> None:
        if not self.bulk:
            self.child.observe(seconds)
            return
        self.counts[bisect_left(self.bounds, seconds)] += 1  # the first bucket with seconds <= bound
        self.total += seconds

    def write(self) -> None:
        if not self.total and not any(self.counts):
            return
        self.child._sum.inc(self.total)
        for index, count in enumerate(self.counts):
            if count:
                self.child._buckets[index].inc(count)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

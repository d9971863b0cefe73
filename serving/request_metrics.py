"""Per-request metrics, written every few milliseconds instead of on every change.

prometheus_client's multiprocess values are memory-mapped files written under a lock on each
change (~2 µs apiece); a predict request used to change five. Here the in-flight gauge and
the request counts are plain numbers, written at most `WRITE_EVERY_S` after they changed
(before the access log lines of the same requests, see serving.access_log); the latency
histogram is still observed per request (the public API can't add to its buckets in bulk).
A scrape answered by this worker writes first, so it counts itself.
"""

from __future__ import annotations

import asyncio
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
        self._latencies: dict[str, Any] = {}
        self._due = False

    def started(self) -> None:
        self._in_flight += 1
        self._write_soon()

    def finished(self, route: str, status: int, seconds: float) -> None:
        self._in_flight -= 1
        key = (route, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        latency = self._latencies.get(route)
        if latency is None:
            latency = self._latencies[route] = self._metrics.latency.labels(route)
        latency.observe(seconds)
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

    def _write_soon(self) -> None:
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_later(WRITE_EVERY_S, self.write)

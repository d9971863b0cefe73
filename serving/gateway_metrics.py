"""The gateway's `/metrics` (Prometheus text, like the model server's): the deployment as its clients see it.

| name | type | labels |
|---|---|---|
| `berth_gateway_requests_total` | counter | `variation` (`""` when refused before one was chosen), `code` (`2xx`, `4xx`, `5xx`) |
| `berth_gateway_request_duration_seconds` | histogram | `variation`; from the request read whole to its answer |
| `berth_gateway_upstream_errors_total` | counter | `variation`, `error` (`connection_failed`, `timed_out`, `bad_response`) |
| `berth_gateway_requests_in_flight` | gauge | predict requests being answered |
| `berth_gateway_config_info` | gauge | `version`: the routing config version served, value 1 |
| `berth_gateway_start_time_seconds` | gauge | when this gateway process started (Unix time): a restart resets the counters |

Only predict requests (`/v1/models/…/predict`) are counted; health checks and scrapes are not.
The gateway is one process on one event loop, so the counts are plain numbers kept here and
turned into text only when scraped: a request costs two dict updates and a bisect.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from serving.metrics import LATENCY_BUCKETS  # the model server's: both histograms line up

UPSTREAM_ERRORS = {"ConnectionFailed": "connection_failed", "TimedOut": "timed_out"}


class _Latencies:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.total = 0.0


class GatewayMetrics:
    def __init__(self) -> None:
        self.started_at = time.time()
        self.in_flight = 0
        self.config_version: str | None = None
        self._requests: dict[tuple[str, int], int] = {}  # (variation, status // 100) → count
        self._latencies: dict[str, _Latencies] = {}
        self._upstream_errors: dict[tuple[str, str], int] = {}

    def observe(self, variation: str, status: int, seconds: float) -> None:
        """One predict request answered."""
        key = (variation, status // 100)
        self._requests[key] = self._requests.get(key, 0) + 1
        latencies = self._latencies.get(variation)
        if latencies is None:
            latencies = self._latencies[variation] = _Latencies()
        latencies.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latencies.total += seconds

    def upstream_error(self, variation: str, error: Exception) -> None:
        key = (variation, UPSTREAM_ERRORS.get(type(error).__name__, "bad_response"))
        self._upstream_errors[key] = self._upstream_errors.get(key, 0) + 1

    def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # a collector is anything with collect()
        return generate_latest(registry)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("berth_gateway_requests", "Predict requests answered by the gateway, by "
                                       "variation and status class", labels=["variation", "code"])
        for (variation, status_class), count in sorted(self._requests.items()):
            requests.add_metric([variation, f"{status_class}xx"], count)
        yield requests
        latency = HistogramMetricFamily("berth_gateway_request_duration_seconds",
                                        "Time the gateway took to answer a predict request, by variation",
                                        labels=["variation"])
        for variation, latencies in sorted(self._latencies.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), latencies.counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric([variation], buckets, latencies.total)
        yield latency
        errors = CounterMetricFamily("berth_gateway_upstream_errors", "Failed attempts to reach a replica, by "
                                     "variation and error", labels=["variation", "error"])
        for (variation, error), count in sorted(self._upstream_errors.items()):
            errors.add_metric([variation, error], count)
        yield errors
        yield GaugeMetricFamily("berth_gateway_requests_in_flight", "Predict requests being answered right now",
                                value=self.in_flight)
        config = GaugeMetricFamily("berth_gateway_config_info", "The routing config version the gateway serves",
                                   labels=["version"])
        if self.config_version is not None:
            config.add_metric([self.config_version], 1)
        yield config
        yield GaugeMetricFamily("berth_gateway_start_time_seconds", "When this gateway process started (Unix time)",
                                value=self.started_at)


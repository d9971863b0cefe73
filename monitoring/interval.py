"""What one scrape interval holds for a replica, a variation or a whole deployment.

Built from the model server's series (docs/model-server.md, "Metrics"): only `/v1/predict`
requests count as traffic (health checks and scrapes do not). Stats of several replicas add
up: counts and CPU seconds sum, histogram buckets sum bound by bound, memory sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitoring.prometheus import Samples

PREDICT_PATH = "/v1/predict"
REQUESTS = "berth_requests_total"
LATENCY_BUCKET = "berth_request_duration_seconds_bucket"
BATCH_SUM, BATCH_COUNT = "berth_batch_size_sum", "berth_batch_size_count"
CPU = "berth_process_cpu_seconds_total"
MEMORY = "berth_process_resident_memory_bytes"


@dataclass
class IntervalStats:
    requests: float = 0
    errors_4xx: float = 0
    errors_5xx: float = 0
    latency_buckets: dict[float, float] = field(default_factory=dict)  # le → cumulative count in the interval
    batch_rows: float = 0
    batch_calls: float = 0
    cpu_seconds: float = 0
    memory_bytes: float | None = None
    replicas: int = 0  # how many replicas answered the scrape

    def __add__(self, other: IntervalStats) -> IntervalStats:
        buckets = dict(self.latency_buckets)
        for le, count in other.latency_buckets.items():
            buckets[le] = buckets.get(le, 0) + count
        memory = None if self.memory_bytes is None and other.memory_bytes is None else \
            (self.memory_bytes or 0) + (other.memory_bytes or 0)
        return IntervalStats(self.requests + other.requests, self.errors_4xx + other.errors_4xx,
                             self.errors_5xx + other.errors_5xx, buckets, self.batch_rows + other.batch_rows,
                             self.batch_calls + other.batch_calls, self.cpu_seconds + other.cpu_seconds,
                             memory, self.replicas + other.replicas)


def total(stats: Iterable[IntervalStats]) -> IntervalStats:
    return sum(stats, IntervalStats())


def replica_stats(increases: Samples, current: Samples) -> IntervalStats:
    """One replica's interval: counters from `increases` (since its last scrape), gauges from `current`."""
    stats = IntervalStats(replicas=1)
    for (name, labels), value in increases.items():
        _add_increase(stats, name, dict(labels), value)
    memory = [value for (name, _), value in current.items() if name == MEMORY]
    stats.memory_bytes = sum(memory) if memory else None
    return stats


def _add_increase(stats: IntervalStats, name: str, labels: dict[str, str], value: float) -> None:
    if name == REQUESTS and labels.get("path") == PREDICT_PATH:
        stats.requests += value
        code = labels.get("code", "")
        stats.errors_4xx += value if code.startswith("4") else 0
        stats.errors_5xx += value if code.startswith("5") else 0
    elif name == LATENCY_BUCKET and labels.get("path") == PREDICT_PATH:
        le = float(labels["le"])
        stats.latency_buckets[le] = stats.latency_buckets.get(le, 0) + value
    elif name == BATCH_SUM:
        stats.batch_rows += value
    elif name == BATCH_COUNT:
        stats.batch_calls += value
    elif name == CPU:
        stats.cpu_seconds += value

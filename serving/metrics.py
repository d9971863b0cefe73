"""Prometheus metrics (`berth_*`), correct across worker processes.

Workers write to prometheus_client's multiprocess files in a directory the parent
creates and exports as PROMETHEUS_MULTIPROC_DIR before forking; any worker answering
`/metrics` sums all of them. CPU and memory are read with psutil for the parent and
every worker at scrape time, one series per process (`pid`, `role` labels).

Import this module only after `PROMETHEUS_MULTIPROC_DIR` is set (prometheus_client
chooses its value class at import time).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
ROUTES = ("/v1/predict", "/v1/metadata", "/health/live", "/health/ready", "/metrics")


class ServerMetrics:
    """The metrics one worker records; label children cached so the hot path stays cheap."""

    def __init__(self) -> None:
        self.requests = Counter("berth_requests", "HTTP requests answered, by route and status code",
                                ["path", "code"], registry=None)
        self.latency = Histogram("berth_request_duration_seconds", "Time to answer a request, by route",
                                 ["path"], buckets=LATENCY_BUCKETS, registry=None)
        self.in_flight = Gauge("berth_requests_in_flight", "Requests being answered right now",
                               multiprocess_mode="livesum", registry=None)
        self.batch_size = Histogram("berth_batch_size", "Rows per predict call", buckets=BATCH_BUCKETS,
                                    registry=None)
        self.predict_seconds = Histogram("berth_predict_duration_seconds", "Time of one predict call (a batch)",
                                         buckets=LATENCY_BUCKETS, registry=None)
        self.load_seconds = Gauge("berth_model_load_seconds", "Time to load and warm up the model",
                                  multiprocess_mode="max", registry=None)
        self.ready = Gauge("berth_model_ready", "1 when this worker's model is loaded and warm",
                           ["worker"], multiprocess_mode="livemax", registry=None)
        self.errors = Counter("berth_prediction_errors", "Predict requests that failed, by error type",
                              ["type"], registry=None)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, path: str, code: int, seconds: float) -> None:
        key = (path, code)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(path, str(code)), self.latency.labels(path))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_size.observe(rows)
        self.predict_seconds.observe(seconds)


def route_label(path: str) -> str:
    return path if path in ROUTES else "other"


class ProcessCollector:
    """CPU seconds and resident memory of the server's parent and each worker."""

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily("berth_process_cpu_seconds", "CPU time used by a server process",
                                  labels=["pid", "role"])
        memory = GaugeMetricFamily("berth_process_resident_memory_bytes", "Resident memory of a server process",
                                   labels=["pid", "role"])
        for process, role in self._processes():
            try:
                with process.oneshot():
                    times, rss = process.cpu_times(), process.memory_info().rss
            except psutil.Error:
                continue
            labels = [str(process.pid), role]
            cpu.add_metric(labels, times.user + times.system)
            memory.add_metric(labels, rss)
        yield cpu
        yield memory

    def _processes(self) -> list[tuple[psutil.Process, str]]:
        try:
            parent = psutil.Process(self.parent_pid)
            children = parent.children()
        except psutil.Error:
            return [(psutil.Process(os.getpid()), "worker")]
        return [(parent, "parent"), *((child, "worker") for child in children)]


def render(multiproc_dir: str, parent_pid: int) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=multiproc_dir)
    registry.register(ProcessCollector(parent_pid))
    return generate_latest(registry)

"""Stored metric points: one row per deployment, variation ("" for the whole deployment) and time.

A row holds what happened in its interval as counts (so rows add up exactly when down-sampled)
and the percentiles computed from its latency buckets when written (so reading a chart is a
plain indexed range scan). `resolution_s` tells raw points (the scrape interval) from rolled-up
ones (BERTH_METRICS_ROLLUP_S). Written by monitoring.collect and monitoring.rollup only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import models

from monitoring.interval import IntervalStats
from monitoring.quantiles import histogram_quantile

WHOLE_DEPLOYMENT = ""
METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "throughput_rps", "error_rate_4xx_pct",
           "error_rate_5xx_pct", "cpu_pct", "memory_bytes", "ready_replicas", "desired_replicas",
           "batch_size_mean")


class MetricPoint(models.Model):
    deployment = models.ForeignKey("deployments.Deployment", on_delete=models.CASCADE, related_name="+")
    variation = models.CharField(max_length=36, blank=True, help_text='"" for the whole deployment.')
    resolution_s = models.PositiveIntegerField()
    time = models.DateTimeField(help_text="End of the interval.")
    interval_s = models.FloatField(help_text="Seconds the counts below cover.")
    requests = models.FloatField(default=0)
    errors_4xx = models.FloatField(default=0)
    errors_5xx = models.FloatField(default=0)
    latency_buckets = models.JSONField(default=dict, help_text="Upper bound in seconds → requests at or under it.")
    latency_p50_s = models.FloatField(null=True)
    latency_p95_s = models.FloatField(null=True)
    latency_p99_s = models.FloatField(null=True)
    batch_rows = models.FloatField(default=0)
    batch_calls = models.FloatField(default=0)
    cpu_seconds = models.FloatField(default=0)
    memory_bytes = models.FloatField(null=True)
    ready_replicas = models.PositiveIntegerField(default=0)
    desired_replicas = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [  # noqa: RUF012 - Django reads Meta options, never mutates them
            # One point per series and time; its index is also what a chart's range scan reads.
            models.UniqueConstraint(fields=["deployment", "variation", "resolution_s", "time"], name="metric_series"),
        ]
        indexes = [models.Index(fields=["resolution_s", "time"], name="metric_retention")]  # noqa: RUF012 - pruning

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.variation or '*'} @ {self.time:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def of(cls, deployment_id: int, variation: str, time: datetime, interval_s: float, stats: IntervalStats,
           replicas: tuple[int, int], resolution_s: int) -> MetricPoint:
        """A point for `stats` (percentiles computed now); `replicas` is (ready, desired)."""
        p50, p95, p99 = (histogram_quantile(q, stats.latency_buckets) for q in (0.5, 0.95, 0.99))
        return cls(deployment_id=deployment_id, variation=variation, resolution_s=resolution_s, time=time,
                   interval_s=interval_s, requests=stats.requests, errors_4xx=stats.errors_4xx,
                   errors_5xx=stats.errors_5xx, latency_buckets=_bucket_json(stats.latency_buckets),
                   latency_p50_s=p50, latency_p95_s=p95, latency_p99_s=p99, batch_rows=stats.batch_rows,
                   batch_calls=stats.batch_calls, cpu_seconds=stats.cpu_seconds, memory_bytes=stats.memory_bytes,
                   ready_replicas=replicas[0], desired_replicas=replicas[1])

    def stats(self) -> IntervalStats:
        """The counts this point holds, to add up with others (down-sampling)."""
        return IntervalStats(self.requests, self.errors_4xx, self.errors_5xx,
                             {float(le): count for le, count in self.latency_buckets.items()}, self.batch_rows,
                             self.batch_calls, self.cpu_seconds, self.memory_bytes)

    def chart_values(self) -> dict[str, float | None]:
        """Each charted metric (METRICS) at this point; None where the interval had no data for it."""
        return chart_values(self.__dict__)


def chart_values(row: Mapping[str, Any]) -> dict[str, float | None]:
    """The METRICS of a stored point given as its column values (a model's fields or a `.values()` row)."""
    requests, interval_s, calls = row["requests"], row["interval_s"], row["batch_calls"]
    return {
        "latency_p50_ms": _ms(row["latency_p50_s"]), "latency_p95_ms": _ms(row["latency_p95_s"]),
        "latency_p99_ms": _ms(row["latency_p99_s"]), "throughput_rps": _per_s(requests, interval_s),
        "error_rate_4xx_pct": _pct(row["errors_4xx"], requests), "error_rate_5xx_pct": _pct(row["errors_5xx"], requests),
        "cpu_pct": _pct(row["cpu_seconds"], interval_s), "memory_bytes": row["memory_bytes"],
        "ready_replicas": row["ready_replicas"], "desired_replicas": row["desired_replicas"],
        "batch_size_mean": row["batch_rows"] / calls if calls else None,
    }


def _bucket_json(buckets: dict[float, float]) -> dict[str, Any]:
    return {repr(le) if le != float("inf") else "+Inf": count for le, count in sorted(buckets.items())}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _per_s(count: float, interval_s: float) -> float | None:
    return count / interval_s if interval_s > 0 else None


def _pct(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole > 0 else None


class ScrapeSnapshot(models.Model):
    """Each replica's samples at a deployment's last scrape: the baseline the next one's increases start from.

    Its row is locked while a scrape of the deployment runs, so two never count the same interval."""
    deployment = models.OneToOneField("deployments.Deployment", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(null=True)
    samples = models.JSONField(default=dict, help_text="Replica name → {starts, samples (monitoring.prometheus.to_json)}.")

    def __str__(self) -> str:
        return f"{self.deployment_id} scraped at {self.at}"

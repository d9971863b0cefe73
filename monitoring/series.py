"""Reading stored points back as chart series: the points' times, and each metric's values at them.

Ranges up to RAW_RANGE_LIMIT read raw points, up to MINUTES_RANGE_LIMIT the minutes, longer ones the coarse
steps (monitoring/rollup.py), so no range draws more than a few thousand points a series: the time a chart
takes is Python's per point (bench/monitoring), not the database's. One indexed range scan on
(deployment, variation, resolution, time), only the columns chart_values() needs, as plain rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from monitoring.models import METRICS, WHOLE_DEPLOYMENT, MetricPoint, chart_values

RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "6h": timedelta(hours=6),
          "24h": timedelta(hours=24), "7d": timedelta(days=7)}
RAW_RANGE_LIMIT = timedelta(hours=6)
MINUTES_RANGE_LIMIT = timedelta(hours=24)
COLUMNS = ("time", "interval_s", "requests", "errors_4xx", "errors_5xx", "latency_p50_s", "latency_p95_s",
           "latency_p99_s", "batch_rows", "batch_calls", "cpu_seconds", "memory_bytes", "ready_replicas",
           "desired_replicas")


@dataclass(frozen=True)
class Series:
    range: str
    variation: str
    resolution_s: int
    start: datetime
    end: datetime
    times: list[datetime]
    metrics: dict[str, list[float | None]]  # each aligned with `times`

    def points(self, metric: str) -> list[tuple[datetime, float | None]]:
        return list(zip(self.times, self.metrics[metric], strict=True))

    def to_json(self) -> dict[str, object]:
        """The API's answer (monitoring.api.serializers.MetricsSerializer): times once, values aligned with them,
        as a chart's x and y arrays (a week of one-minute points is 10,080 of each)."""
        return {"range": self.range, "variation": self.variation, "resolution_s": self.resolution_s,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "times": [time.isoformat() for time in self.times], "metrics": self.metrics}


def read_series(deployment_id: int, range_name: str, now: datetime, variation: str = WHOLE_DEPLOYMENT) -> Series:
    """Every metric of METRICS over `range_name` (a key of RANGES) ending `now`, oldest point first."""
    span, step = RANGES[range_name], resolution_s(range_name)
    rows = MetricPoint.objects.filter(deployment_id=deployment_id, variation=variation, time__gt=now - span,
                                      time__lte=now).order_by("time")
    rolled = step != settings.BERTH_METRICS_SCRAPE_S
    rows = rows.filter(resolution_s=step) if rolled else rows.filter(resolution_s__lt=settings.BERTH_METRICS_ROLLUP_S)
    times: list[datetime] = []
    metrics: dict[str, list[float | None]] = {name: [] for name in METRICS}
    for row in rows.values(*COLUMNS):  # plain rows: no model instance per point
        times.append(row["time"])
        for name, value in chart_values(row).items():
            metrics[name].append(value)
    return Series(range_name, variation, resolution_s(range_name), now - span, now, times, metrics)


def resolution_s(range_name: str) -> int:
    """Seconds between the points of a range: raw, minutes or coarse steps by its length."""
    span = RANGES[range_name]
    if span <= RAW_RANGE_LIMIT:
        return settings.BERTH_METRICS_SCRAPE_S
    return settings.BERTH_METRICS_ROLLUP_S if span <= MINUTES_RANGE_LIMIT else settings.BERTH_METRICS_COARSE_S

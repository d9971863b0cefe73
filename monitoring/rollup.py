"""Down-sampling and retention of stored points.

Raw points (one per scrape; any resolution under the step) are added up into one point per
BERTH_METRICS_ROLLUP_S step (a minute) of each series, and minutes into one point per
BERTH_METRICS_COARSE_S step (ten minutes), so a week's chart reads 1,008 points a series, not
10,080: counts and latency buckets sum (so rates, error rates and percentiles stay exact), memory
is the mean, ready/desired replicas the last value.
A step is rolled up once it has been over for a scrape interval (so a scrape still running when
it ended has stored its point), looking back LOOKBACK_STEPS steps: a worker down longer leaves
those steps to their raw points, kept BERTH_METRICS_RAW_RETENTION_H hours. Rolled-up points are
kept BERTH_METRICS_ROLLUP_RETENTION_D days.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from monitoring.interval import total
from monitoring.models import MetricPoint

LOOKBACK_STEPS = 3
SeriesStep = tuple[int, str, datetime]


def step_end(time: datetime, step_s: int) -> datetime:
    """The end of the step `time` falls in; a time on a boundary closes the step ending there."""
    seconds = time.timestamp()
    return datetime.fromtimestamp(-(-seconds // step_s) * step_s, tz=UTC)


def roll_up(now: datetime) -> list[MetricPoint]:
    """Add up every step that ended since the last LOOKBACK_STEPS: raw points into minutes, then minutes into
    coarse steps (BERTH_METRICS_COARSE_S), which a week's chart reads; store and return them."""
    minute, coarse = settings.BERTH_METRICS_ROLLUP_S, settings.BERTH_METRICS_COARSE_S
    minutes = _roll(now, minute, MetricPoint.objects.filter(resolution_s__lt=minute), settings.BERTH_METRICS_SCRAPE_S)
    # A coarse step waits until its last minute was rolled up too.
    coarse_steps = _roll(now, coarse, MetricPoint.objects.filter(resolution_s=minute),
                         settings.BERTH_METRICS_SCRAPE_S + minute)
    return minutes + coarse_steps


def _roll(now: datetime, step: int, sources: QuerySet[MetricPoint], settle_s: int) -> list[MetricPoint]:
    settled = now - timedelta(seconds=settle_s)
    end = step_end(settled, step)
    if end > settled:
        end -= timedelta(seconds=step)  # that step is not over yet, or only just
    start = end - timedelta(seconds=step * LOOKBACK_STEPS)
    done = set(MetricPoint.objects.filter(resolution_s=step, time__gt=start, time__lte=end)
               .values_list("deployment_id", "variation", "time"))
    groups: dict[SeriesStep, list[MetricPoint]] = defaultdict(list)
    for point in sources.filter(time__gt=start, time__lte=end).order_by("time"):
        key = (point.deployment_id, point.variation, step_end(point.time, step))
        if key not in done:
            groups[key].append(point)
    rolled = [_combined(key, points, step) for key, points in groups.items()]
    return MetricPoint.objects.bulk_create(rolled, ignore_conflicts=True)  # a concurrent run rolled it up first


def _combined(key: SeriesStep, points: list[MetricPoint], step: int) -> MetricPoint:
    deployment_id, variation, end = key
    stats = total(p.stats() for p in points)
    memory = [p.memory_bytes for p in points if p.memory_bytes is not None]
    stats.memory_bytes = sum(memory) / len(memory) if memory else None
    last = points[-1]
    return MetricPoint.of(deployment_id, variation, end, sum(p.interval_s for p in points), stats,
                          (last.ready_replicas, last.desired_replicas), step)


def prune(now: datetime) -> int:
    """Delete points past their retention; how many went."""
    raw_before = now - timedelta(hours=settings.BERTH_METRICS_RAW_RETENTION_H)
    rolled_before = now - timedelta(days=settings.BERTH_METRICS_ROLLUP_RETENTION_D)
    step = settings.BERTH_METRICS_ROLLUP_S
    raw, _ = MetricPoint.objects.filter(resolution_s__lt=step, time__lt=raw_before).delete()
    rolled, _ = MetricPoint.objects.filter(resolution_s__gte=step, time__lt=rolled_before).delete()
    return raw + rolled

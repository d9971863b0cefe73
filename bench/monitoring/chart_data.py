"""Seven days of stored points for a deployment, laid out as collection, roll-up and pruning leave them.

With the default settings that is, for each series (the variation's and the whole deployment's,
"" — what monitoring.collect stores per scrape):
- raw points (resolution BERTH_METRICS_SCRAPE_S, 10 s) for the last BERTH_METRICS_RAW_RETENTION_H
  hours (24 h; monitoring.rollup.prune deletes older ones);
- rolled-up points (BERTH_METRICS_ROLLUP_S, 60 s) for the last BERTH_METRICS_ROLLUP_RETENTION_D
  days (7 d), the last day's included (roll-up runs all along; raw points are kept beside them),
  and those minutes rolled up again into BERTH_METRICS_COARSE_S (600 s) points.
Raw points are built with MetricPoint.of from an interval's counts, as the collector builds them;
rolled-up points with monitoring.rollup's own combination of the raw points of their step, so
each row holds exactly what the real code would have written. The traffic is a busy deployment's:
`replicas` × 20 predictions a second with a daily swing, a few 4xx, rare 5xx.
"""

from __future__ import annotations

import copy
import math
import random
from datetime import datetime, timedelta

from django.conf import settings

from monitoring.interval import IntervalStats
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from monitoring.rollup import _combined, step_end
from serving.metrics import LATENCY_BUCKETS

RPS_PER_REPLICA = 20.0
BATCH_SIZE = 4
INSERT_BATCH = 5000


def _latency_buckets(rng: random.Random, requests: float) -> dict[float, float]:
    """Cumulative counts per bound for `requests` latencies around 3 ms (log-normal)."""
    median_s = 0.003 * rng.uniform(0.8, 1.3)
    buckets: dict[float, float] = {}
    for le in (*LATENCY_BUCKETS, math.inf):
        share = 1.0 if le == math.inf else 0.5 * (1 + math.erf(math.log(le / median_s) / (0.7 * math.sqrt(2))))
        buckets[le] = round(requests * share)
    return buckets


def _interval(rng: random.Random, replicas: int, at: datetime, seconds: float) -> IntervalStats:
    daily = 1 + 0.5 * math.sin(2 * math.pi * at.timestamp() / 86400)
    requests = round(replicas * RPS_PER_REPLICA * seconds * daily * rng.uniform(0.9, 1.1))
    return IntervalStats(requests=requests, errors_4xx=round(requests * 0.01), errors_5xx=rng.choice((0, 0, 0, 1)),
                         latency_buckets=_latency_buckets(rng, requests), batch_rows=requests,
                         batch_calls=math.ceil(requests / BATCH_SIZE),
                         cpu_seconds=replicas * seconds * rng.uniform(0.2, 0.4),
                         memory_bytes=replicas * 3 * rng.uniform(140e6, 160e6), replicas=replicas)


def week_of_points(deployment_id: int, variation: str, replicas: int, now: datetime,
                   seed: int = 0) -> list[MetricPoint]:
    """Every point kept at `now` for the deployment's `variation` and its whole-deployment series (unsaved)."""
    rng = random.Random(seed)  # noqa: S311 - made-up traffic, repeatable
    scrape, step = settings.BERTH_METRICS_SCRAPE_S, settings.BERTH_METRICS_ROLLUP_S
    raw_since = now - timedelta(hours=settings.BERTH_METRICS_RAW_RETENTION_H)
    last_step = step_end(now, step) - timedelta(seconds=step)  # the step still running is not rolled up yet
    first_step = now - timedelta(days=settings.BERTH_METRICS_ROLLUP_RETENTION_D)
    points: list[MetricPoint] = []
    end = step_end(first_step, step)
    while end <= last_step:
        raw = [_raw(deployment_id, variation, replicas, end - timedelta(seconds=scrape * k), rng)
               for k in range(step // scrape - 1, -1, -1)]
        for name in (variation, WHOLE_DEPLOYMENT):  # one variation: the deployment's figures are its own
            series = [_as(point, name) for point in raw]
            points.append(_combined((deployment_id, name, end), series, step))
            points += [point for point in series if point.time >= raw_since]
        end += timedelta(seconds=step)
    points += _coarse(points, deployment_id, last_step)
    at = last_step + timedelta(seconds=scrape)
    while at <= now:  # the running step's raw points, not rolled up yet
        point = _raw(deployment_id, variation, replicas, at, rng)
        points += [point, _as(point, WHOLE_DEPLOYMENT)]
        at += timedelta(seconds=scrape)
    return points


def _coarse(points: list[MetricPoint], deployment_id: int, last_minute: datetime) -> list[MetricPoint]:
    """The ten-minute points monitoring.rollup makes of the minutes, for every ten minutes already over."""
    minute, coarse = settings.BERTH_METRICS_ROLLUP_S, settings.BERTH_METRICS_COARSE_S
    groups: dict[tuple[str, datetime], list[MetricPoint]] = {}
    for point in points:
        if point.resolution_s == minute:
            groups.setdefault((point.variation, step_end(point.time, coarse)), []).append(point)
    return [_combined((deployment_id, name, end), minutes, coarse)
            for (name, end), minutes in groups.items() if end <= last_minute]


def _raw(deployment_id: int, variation: str, replicas: int, at: datetime, rng: random.Random) -> MetricPoint:
    seconds = settings.BERTH_METRICS_SCRAPE_S
    return MetricPoint.of(deployment_id, variation, at, seconds, _interval(rng, replicas, at, seconds),
                          (replicas, replicas), seconds)


def _as(point: MetricPoint, variation: str) -> MetricPoint:
    if point.variation == variation:
        return point
    twin = copy.copy(point)
    twin.variation = variation
    return twin


def for_deployment(points: list[MetricPoint], deployment_id: int) -> list[MetricPoint]:
    """The same points for another deployment (other deployments' rows share the table, as in a real console)."""
    twins = []
    for point in points:
        twin = copy.copy(point)
        twin.pk, twin.deployment_id = None, deployment_id
        twins.append(twin)
    return twins


def store(points: list[MetricPoint]) -> int:
    MetricPoint.objects.bulk_create(points, batch_size=INSERT_BATCH)
    return len(points)

"""One scrape of one deployment: replicas' and the gateway's samples → increases → points per variation and in all.

The previous scrape's samples (ScrapeSnapshot) are the baseline:
- a replica seen for the first time adds nothing until its next scrape;
- a replica that restarted counts from zero (monitoring.rates; the local runtime also says when
  a replica's process was started again, even once its counters have passed the old figures);
- a replica that missed a scrape counts from its older baseline when it answers again;
- a replica that went adds nothing more.
A baseline older than STALE_AFTER_SCRAPES intervals (the worker was down) only becomes the new
baseline, so no point averages over a gap. The deployment's own requests, errors and latency are
what its gateway counted (monitoring.gateway_stats: as clients see them) when it answered this
scrape and has a baseline, kept like a replica's (several gateway processes: the sum of those that
did); otherwise its live variations' (shadow variations get copies of traffic). Batches are the live variations'; CPU, memory and replicas
count every replica.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.db import transaction

from deployments.models import Deployment
from monitoring import prometheus
from monitoring.gateway_stats import client_stats, gateways_increases, started_at
from monitoring.interval import IntervalStats, replica_stats, total
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint, ScrapeSnapshot
from monitoring.prometheus import Samples
from monitoring.rates import baseline, increases
from monitoring.replica_counts import replica_counts
from monitoring.scrape import scrape_all
from monitoring.targets import Target, targets_of

STALE_AFTER_SCRAPES = 3


def collect(deployment: Deployment, now: datetime, min_interval_s: float | None = None) -> list[MetricPoint]:
    """Scrape `deployment` now and store its points; none on a first (or stale) baseline, or while another runs.

    A deployment scraped less than `min_interval_s` ago (default: half the scrape interval) is left
    alone, so task runs that overlap (a slow one, then the next) make no points of a fraction of a second."""
    ScrapeSnapshot.objects.get_or_create(deployment=deployment)
    with transaction.atomic():
        snapshot = ScrapeSnapshot.objects.select_for_update(skip_locked=True).filter(deployment=deployment).first()
        if snapshot is None or _too_soon(snapshot, now, min_interval_s):
            return []  # another scrape of this deployment holds it, or just stored its points
        targets = targets_of(deployment)
        current = scrape_all([*targets.replicas, *targets.gateways])
        gateways = {t: current.pop(t) for t in targets.gateways if t in current}
        points = _points(deployment, snapshot.samples, current, gateways, now, _interval_s(snapshot, now))
        MetricPoint.objects.bulk_create(points)
        snapshot.at, snapshot.samples = now, (_baselines(snapshot.samples, targets.replicas, current)
                                              | _gateway_baselines(snapshot.samples, targets.gateways, gateways))
        snapshot.save(update_fields=["at", "samples"])
    return points


def _baselines(previous: dict[str, dict], targets: list[Target], current: dict[Target, Samples]) -> dict[str, dict]:
    """What the next scrape counts from: each answering replica's samples now; a replica that missed
    this scrape (busy, restarting) keeps its older baseline; replicas no longer there are dropped."""
    kept = {t.replica: previous[t.replica] for t in targets if t not in current and t.replica in previous}
    return kept | {t.replica: {"starts": t.starts, "samples": prometheus.to_json(baseline(s))}
                   for t, s in current.items()}


def _gateway_baselines(previous: dict[str, dict], gateways: list[Target],
                       current: dict[Target, Samples]) -> dict[str, dict]:
    """Each gateway process's, kept like a replica's: its samples now (with its start time), else its older
    baseline while it is still there."""
    kept = {t.replica: previous[t.replica] for t in gateways if t not in current and t.replica in previous}
    return kept | {t.replica: {"starts": started_at(s), "samples": prometheus.to_json(baseline(s))}
                   for t, s in current.items()}


def _too_soon(snapshot: ScrapeSnapshot, now: datetime, min_interval_s: float | None) -> bool:
    least = settings.BERTH_METRICS_SCRAPE_S / 2 if min_interval_s is None else min_interval_s
    return snapshot.at is not None and (now - snapshot.at).total_seconds() < least


def _interval_s(snapshot: ScrapeSnapshot, now: datetime) -> float | None:
    """Seconds since the baseline, or None when there is none fresh enough to count from."""
    if snapshot.at is None:
        return None
    age_s = (now - snapshot.at).total_seconds()
    return age_s if 0 < age_s <= STALE_AFTER_SCRAPES * settings.BERTH_METRICS_SCRAPE_S else None


def _points(deployment: Deployment, previous: dict[str, dict], current: dict[Target, Samples],
            gateways: dict[Target, Samples], now: datetime, interval_s: float | None) -> list[MetricPoint]:
    if interval_s is None:
        return []
    by_variation = _variation_stats(previous, current)
    counts = replica_counts(deployment)
    resolution = settings.BERTH_METRICS_SCRAPE_S
    points = [MetricPoint.of(deployment.pk, name, now, interval_s, by_variation.get(name, IntervalStats()),
                             counts.get(name, (0, 0)), resolution)
              for name in sorted(counts.keys() | by_variation.keys())]
    whole = _whole(deployment, by_variation, gateways_increases(previous, {t.replica: s for t, s in gateways.items()}))
    ready, desired = (sum(c[i] for c in counts.values()) for i in (0, 1))
    points.append(MetricPoint.of(deployment.pk, WHOLE_DEPLOYMENT, now, interval_s, whole, (ready, desired),
                                 resolution))
    return points


def _variation_stats(previous: dict[str, dict], current: dict[Target, Samples]) -> dict[str, IntervalStats]:
    stats: dict[str, list[IntervalStats]] = defaultdict(list)
    for target, samples in current.items():
        grown = replica_increases(previous.get(target.replica), target, samples)
        stats[target.variation].append(replica_stats(grown, samples))
    return {name: total(items) for name, items in stats.items()}


def replica_increases(before: dict | None, target: Target, samples: Samples) -> Samples:
    """A replica's increases since its baseline; all it counted, when its process was started again since."""
    if before is None:
        return {}
    restarted = target.starts != before.get("starts", target.starts)
    return increases({} if restarted else prometheus.from_json(before["samples"]), samples)


def _whole(deployment: Deployment, by_variation: dict[str, IntervalStats], gateway: Samples | None) -> IntervalStats:
    """The deployment's interval: its clients' requests, errors and latency (the gateway's increases, else
    the live variations'), the live variations' batches, and every replica's CPU, memory and count."""
    shadows = set(deployment.variations.filter(shadow=True).values_list("name", flat=True))
    everything = total(by_variation.values())
    live = total(s for name, s in by_variation.items() if name not in shadows)
    if gateway is not None:
        clients = client_stats(gateway)
        live = replace(live, requests=clients.requests, errors_4xx=clients.errors_4xx, errors_5xx=clients.errors_5xx,
                       latency_buckets=clients.latency_buckets)
    return replace(live, cpu_seconds=everything.cpu_seconds, memory_bytes=everything.memory_bytes,
                   replicas=everything.replicas)

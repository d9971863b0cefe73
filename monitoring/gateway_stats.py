"""A deployment's traffic as its clients see it: the gateway's series (serving/gateway_metrics.py).

The gateway counts every predict request a client sent, those it refused itself (no ready replica,
an unknown variation) included, and times each from the request read to its answer, so the
deployment-wide requests, error rates and latency percentiles come from here whenever the gateway
answered this scrape and the one before (monitoring.collect); otherwise they are the sum of the
live variations' replicas. Shadow copies are not client requests: the gateway does not count them.

The gateway's process start time is its "starts": when it changes, the gateway was restarted and
its counters hold only what it counted since (the same rule as a replica started again).

A deployment may have several gateway processes (on Kubernetes, the gateway Deployment's pods):
each is scraped and kept apart, under its own key (`gateway_key`), with its own baseline and start
time, and the deployment's client traffic is the sum of the increases of those that answered and
have a baseline. A gateway pod seen for the first time counts from its next scrape, as a replica does.
"""

from __future__ import annotations

from monitoring import prometheus
from monitoring.interval import IntervalStats
from monitoring.prometheus import Samples
from monitoring.rates import increases

GATEWAY = "@gateway"  # the gateway's key among the replicas' baselines; no replica name starts with "@"
REQUESTS = "berth_gateway_requests_total"
LATENCY_BUCKET = "berth_gateway_request_duration_seconds_bucket"
STARTED = ("berth_gateway_start_time_seconds", ())


def gateway_key(name: str) -> str:
    """The key a gateway process's baseline is kept under: GATEWAY for the one unnamed gateway (the local
    runtime's), `@gateway:<pod>` for each of several."""
    return f"{GATEWAY}:{name}" if name else GATEWAY


def started_at(samples: Samples) -> float | None:
    return samples.get(STARTED)


def gateways_increases(baselines: dict[str, dict], current: dict[str, Samples]) -> Samples | None:
    """The summed increases of the gateway processes (`current`, by key) that have a baseline; None when
    none has (the deployment's client traffic then comes from its replicas)."""
    grown = [g for key, samples in current.items() if (g := gateway_increases(baselines.get(key), samples)) is not None]
    if not grown:
        return None
    summed: Samples = {}
    for samples in grown:
        for series, value in samples.items():
            summed[series] = summed.get(series, 0.0) + value
    return summed


def gateway_increases(before: dict | None, samples: Samples) -> Samples | None:
    """The gateway's increases since its baseline; None without one (a first scrape counts nothing)."""
    if before is None:
        return None
    restarted = before.get("starts") != started_at(samples)
    return increases({} if restarted else prometheus.from_json(before["samples"]), samples)


def client_stats(grown: Samples) -> IntervalStats:
    """Requests, 4xx and 5xx answers, and latency buckets of the interval, as the gateway counted them."""
    stats = IntervalStats()
    for (name, labels), value in grown.items():
        if name == REQUESTS:
            code = dict(labels).get("code", "")
            stats.requests += value
            stats.errors_4xx += value if code.startswith("4") else 0
            stats.errors_5xx += value if code.startswith("5") else 0
        elif name == LATENCY_BUCKET:
            le = float(dict(labels)["le"])
            stats.latency_buckets[le] = stats.latency_buckets.get(le, 0) + value
    return stats

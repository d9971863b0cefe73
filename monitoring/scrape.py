"""Fetching one target's `/metrics` (HTTP or a Unix socket): the one seam to the replicas.

A target reached by plain HTTP is read with this process's one shared client; one whose runtime
gave it a client of its own (the Kubernetes pod proxy's, with the cluster's credentials:
`Target.client`) with that one, which its runtime also makes once per process."""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx

from monitoring.prometheus import ExpositionError, Samples, parse
from monitoring.targets import Target
from serving import endpoints
from serving.endpoints import EndpointError

log = logging.getLogger(__name__)
SCRAPE_TIMEOUT_S = 2.0
PARALLEL = 8


def scrape(client: httpx.Client, target: Target) -> Samples | None:
    """The target's samples, or None when it did not answer with Prometheus text (stopped, starting,
    refused by the API server…). `client` reads plain HTTP targets; a target's own client its own."""
    try:
        endpoint = endpoints.Endpoint.parse(target.endpoint)
        if target.client is not None:
            response = target.client.get(endpoint.url("/metrics"), timeout=SCRAPE_TIMEOUT_S)
        elif endpoint.uds is None:
            response = client.get(endpoint.url("/metrics"))
        else:
            with endpoints.client(endpoint, timeout=client.timeout) as own:
                response = own.get(endpoint.url("/metrics"))
        response.raise_for_status()
        return parse(response.text)
    except (httpx.HTTPError, EndpointError, ExpositionError) as exc:
        log.debug("no metrics from %s (%s): %s", target.replica, target.endpoint, exc)
        return None


def scrape_all(targets: list[Target]) -> dict[Target, Samples]:
    """Every target that answered, with its samples; PARALLEL at a time, so a few hung replicas cost one timeout."""
    client = _shared_client()
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="scrape") as pool:
        results = pool.map(lambda target: (target, scrape(client, target)), targets)
        return {target: samples for target, samples in results if samples is not None}


@functools.cache
def _shared_client() -> httpx.Client:
    """One HTTP client per process, made on first use (after a worker's fork), shared by the scrape threads.

    Making one loads the CA bundle, 29 ms of CPU (bench/monitoring): once per deployment and round that
    was a third of the scrape's cost at 100 replicas. httpx clients are safe to share between threads."""
    return httpx.Client(timeout=SCRAPE_TIMEOUT_S, trust_env=False)

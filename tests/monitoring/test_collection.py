"""Metrics collected from a real deployment: supervisord, model-server replicas, the gateway, the Celery worker.

Requests sent through the gateway show up in the stored points exactly (counts) and plausibly
(percentiles: never above the histogram bucket holding the latency the client measured, which
includes the server's own). Nothing here waits on how fast a process is: it polls for conditions.
"""

from __future__ import annotations

import bisect
import math
import os
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from django.utils import timezone

from deployments.backends.base import ReplicaStatus, get_backend
from deployments.models import Deployment, RolloutStatus
from deployments.models.instance_type import ensure_catalog
from deployments.rollouts.requests import deploy
from monitoring.collect import collect
from monitoring.interval import total
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint, ScrapeSnapshot
from serving import endpoints
from serving.metrics import LATENCY_BUCKETS
from tests.deploy.conftest import wait_for_rollout
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)
DEADLINE_S = 60


@pytest.fixture
def deployment(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    ensure_catalog()  # transactional tests flush the rows the data migration seeded
    build = ready_build(iris_model)
    spec = {"variations": [{"name": "default", "build_id": str(build.build_id), "instance_type": "small",
                            "replicas": 2, "server_workers": 1, "request_timeout_ms": 5000}]}
    rollout = wait_for_rollout(deploy(iris_model, spec, alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    rollout.deployment.refresh_from_db()
    yield rollout.deployment
    get_backend().delete(rollout.deployment)


def scrape_now(deployment: Deployment) -> list[MetricPoint]:
    """What the periodic task does for one deployment, however soon after the last scrape."""
    return collect(deployment, timezone.now(), min_interval_s=0)


def send(url: str, rows: object, times: int) -> list[tuple[int, float]]:
    """POST `rows` `times` times; each answer's status and the seconds the client waited for it."""
    answers = []
    with httpx.Client(timeout=30) as client:
        for _ in range(times):
            started = time.perf_counter()
            status = client.post(url, json=rows).status_code
            answers.append((status, time.perf_counter() - started))
    return answers


def collect_until(deployment: Deployment, requests: int, variation: str = WHOLE_DEPLOYMENT) -> list[MetricPoint]:
    """Scrape again and again until the stored points of `variation` (default: the whole deployment) count
    `requests` (or the deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        scrape_now(deployment)
        points = list(MetricPoint.objects.filter(deployment=deployment).order_by("time"))
        counted = sum(p.requests for p in points if p.variation == variation)
        if counted >= requests or time.monotonic() > deadline:
            return points
        time.sleep(0.5)


def upper_bound(seconds: float) -> float:
    """The upper bound of the latency histogram bucket `seconds` falls in."""
    index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
    return LATENCY_BUCKETS[index] if index < len(LATENCY_BUCKETS) else math.inf


def test_requests_sent_through_the_gateway_are_counted_exactly_with_plausible_percentiles(deployment):
    assert scrape_now(deployment) == []  # the first scrape is the baseline only
    good = send(deployment.predict_url, [IRIS_ROW], 40)
    bad = send(deployment.predict_url, [{"sepal_length": "not a number"}], 5)
    assert {s for s, _ in good} == {200}
    assert all(400 <= s < 500 for s, _ in bad), bad

    points = collect_until(deployment, 45)

    whole = total(p.stats() for p in points if p.variation == WHOLE_DEPLOYMENT)
    default = total(p.stats() for p in points if p.variation == "default")
    assert (whole.requests, whole.errors_4xx, whole.errors_5xx) == (45, 5, 0)
    assert (default.requests, default.errors_4xx) == (45, 5)
    assert whole.latency_buckets[math.inf] == 45
    assert whole.batch_calls >= 1
    assert whole.memory_bytes
    latencies = sorted(seconds for _, seconds in good + bad)
    busiest = max((p for p in points if p.variation == WHOLE_DEPLOYMENT), key=lambda p: p.requests)
    for q, estimate in ((0.5, busiest.latency_p50_s), (0.95, busiest.latency_p95_s),
                        (0.99, busiest.latency_p99_s)):
        assert estimate is not None
        assert 0 < estimate <= upper_bound(latencies[-1]), (q, estimate, latencies[-1])
    assert busiest.latency_p50_s <= busiest.latency_p95_s <= busiest.latency_p99_s  # type: ignore[operator]


def send_to_replica(endpoint: str, times: int) -> None:
    """POST a good row straight to one replica (not through the gateway), `times` times."""
    target = endpoints.Endpoint.parse(endpoint)
    with endpoints.client(target, timeout=30) as client:
        for _ in range(times):
            assert client.post(target.url("/v1/predict"), json=[IRIS_ROW]).status_code == 200


def restarted_and_ready(deployment: Deployment, name: str) -> ReplicaStatus:
    """Wait for replica `name` to be started again and ready, scraping meanwhile as the periodic task would."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        scrape_now(deployment)
        replica = next(r for r in get_backend().replicas(deployment) if r.name == name)
        if replica.restarts >= 1 and replica.ready:
            return replica
        time.sleep(0.5)
    raise AssertionError(f"replica {name} was not restarted and ready within {DEADLINE_S} s")


def test_a_restarted_replica_counts_from_zero_even_once_past_its_old_count(deployment):
    replica = get_backend().replicas(deployment)[0]
    assert replica.pid is not None
    scrape_now(deployment)
    send_to_replica(replica.endpoint, 20)  # not through the gateway: its variation's points count them
    collect_until(deployment, 20, "default")

    os.kill(replica.pid, signal.SIGKILL)  # supervisord starts it again: a new process, counters from zero
    again = restarted_and_ready(deployment, replica.name)
    send_to_replica(again.endpoint, 25)  # past the old 20: the counter never drops where a scrape sees it
    points = collect_until(deployment, 45, "default")

    assert sum(p.requests for p in points if p.variation == "default") == 45


def test_ready_and_desired_replicas_are_what_the_observer_stored(deployment):
    scrape_now(deployment)
    deadline = time.monotonic() + DEADLINE_S
    while not (points := scrape_now(deployment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    by_variation = {p.variation: p for p in points}
    assert (by_variation["default"].ready_replicas, by_variation["default"].desired_replicas) == (2, 2)
    assert by_variation[WHOLE_DEPLOYMENT].desired_replicas == 2
    assert by_variation["default"].chart_values()["memory_bytes"]


def test_the_periodic_task_stores_points_through_the_celery_worker(deployment):
    from monitoring.tasks import scrape_metrics

    deadline = time.monotonic() + DEADLINE_S
    while not MetricPoint.objects.filter(deployment=deployment).exists() and time.monotonic() < deadline:
        scrape_metrics.delay()
        time.sleep(1)
    assert MetricPoint.objects.filter(deployment=deployment, variation="default").exists()


def test_a_deployment_scraped_moments_ago_is_left_alone(deployment):
    scrape_now(deployment)
    scraped_at = ScrapeSnapshot.objects.get(deployment=deployment).at
    assert collect(deployment, timezone.now()) == []  # the task's default: not within half an interval
    assert ScrapeSnapshot.objects.get(deployment=deployment).at == scraped_at


def gateway_samples(deployment: Deployment) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from monitoring.prometheus import parse

    return parse(httpx.get(f"{deployment.gateway_url}/metrics", timeout=10).text)


def test_deployment_wide_figures_are_the_gateways_and_count_what_it_refused_itself(deployment):
    assert scrape_now(deployment) == []  # the baseline, the gateway's included
    good = send(deployment.predict_url, [IRIS_ROW], 10)
    unknown = send(deployment.variation_predict_url("nosuch"), [IRIS_ROW], 3)  # refused by the gateway
    assert {s for s, _ in good} == {200}
    assert {s for s, _ in unknown} == {404}

    counted = gateway_samples(deployment)
    assert counted[("berth_gateway_requests_total", (("code", "2xx"), ("variation", "default")))] == 10
    assert counted[("berth_gateway_requests_total", (("code", "4xx"), ("variation", "")))] == 3
    points = collect_until(deployment, 13)

    whole = total(p.stats() for p in points if p.variation == WHOLE_DEPLOYMENT)
    default = total(p.stats() for p in points if p.variation == "default")
    assert (whole.requests, whole.errors_4xx, whole.errors_5xx) == (13, 3, 0)
    assert whole.latency_buckets[math.inf] == 13
    assert (default.requests, default.errors_4xx) == (10, 0)  # what reached the replicas
    assert whole.batch_calls >= 1
    slowest = max(seconds for _, seconds in good + unknown)
    busiest = max((p for p in points if p.variation == WHOLE_DEPLOYMENT), key=lambda p: p.requests)
    assert busiest.latency_p99_s is not None
    assert 0 < busiest.latency_p99_s <= upper_bound(slowest)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_an_answer_from_the_gateway_deployment_wide_figures_are_the_replicas_sum(deployment):
    dead = f"http://127.0.0.1:{free_port()}"  # a gateway that does not answer its scrapes
    Deployment.objects.filter(pk=deployment.pk).update(gateway_url=dead)
    deployment.refresh_from_db()
    replica = get_backend().replicas(deployment)[0]
    scrape_now(deployment)
    send_to_replica(replica.endpoint, 7)
    points = collect_until(deployment, 7)

    whole = total(p.stats() for p in points if p.variation == WHOLE_DEPLOYMENT)
    assert (whole.requests, whole.errors_4xx) == (7, 0)
    assert whole.latency_buckets[math.inf] == 7

"""GET /api/v1/deployments/<id>/metrics/: who may read it, and what it answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, Model
from monitoring.interval import IntervalStats
from monitoring.models import METRICS, WHOLE_DEPLOYMENT, MetricPoint
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = pytest.mark.django_db
INF = float("inf")


@pytest.fixture
def deployment(iris_model: Model, alice) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2), user=alice)


def url(deployment: Deployment, query: str = "") -> str:
    return f"/api/v1/deployments/{deployment.pk}/metrics/{query}"


def store(deployment: Deployment, variation: str, seconds_ago: int, requests: int, resolution_s: int = 10) -> None:
    stats = IntervalStats(requests=requests, errors_5xx=1, latency_buckets={0.01: requests - 1, 0.1: requests,
                                                                            INF: requests}, memory_bytes=2e8)
    MetricPoint.of(deployment.pk, variation, timezone.now() - timedelta(seconds=seconds_ago), 10.0, stats,
                   (2, 2), resolution_s).save()


def test_members_read_the_series_of_the_whole_deployment(deployment, alice, bob):
    store(deployment, WHOLE_DEPLOYMENT, 30, requests=20)
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    store(deployment, "default", 20, requests=7)
    for user in (alice, bob):  # the admin and a viewer
        response = api_as(user).get(url(deployment, "?range=15m"))
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["deployment"], body["range"], body["variation"], body["resolution_s"]) == \
               (deployment.pk, "15m", "", 10)
        assert set(body["metrics"]) == set(METRICS)
        assert body["metrics"]["throughput_rps"] == [2.0, 4.0]
        assert body["metrics"]["error_rate_5xx_pct"] == [5.0, 2.5]
        assert body["metrics"]["desired_replicas"] == [2, 2]
        assert len(body["times"]) == 2
        assert body["times"][0] < body["times"][1]


def test_one_variation_has_its_own_series(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    store(deployment, "default", 20, requests=7)
    body = api_as(bob).get(url(deployment, "?range=1h&variation=default")).json()
    assert body["metrics"]["throughput_rps"] == [0.7]


def test_seven_days_read_the_ten_minute_points(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 3 * 24 * 3600, requests=6000, resolution_s=600)
    store(deployment, WHOLE_DEPLOYMENT, 3 * 24 * 3600, requests=600, resolution_s=60)  # the minutes: not read
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)  # a raw point: not in the 7-day series
    body = api_as(bob).get(url(deployment, "?range=7d")).json()
    assert body["resolution_s"] == 600
    assert body["metrics"]["throughput_rps"] == [600.0]


def test_nothing_stored_yet_answers_empty_series(deployment, bob):
    body = api_as(bob).get(url(deployment)).json()
    assert body["range"] == "1h"
    assert body["times"] == []
    assert all(values == [] for values in body["metrics"].values())


def test_empty_parameters_mean_their_defaults(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    body = api_as(bob).get(url(deployment, "?range=&variation=")).json()
    assert (body["range"], body["variation"], body["metrics"]["throughput_rps"]) == ("1h", "", [4.0])


def test_a_series_takes_the_same_queries_for_few_points_or_many(deployment, bob, django_assert_max_num_queries):
    client = api_as(bob)
    client.get(url(deployment))  # the token's first use writes its last_used_at, once a minute
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    with django_assert_max_num_queries(4):  # token, deployment with its project, membership, the points
        client.get(url(deployment))
    for seconds_ago in range(30, 600, 10):
        store(deployment, WHOLE_DEPLOYMENT, seconds_ago, requests=10)
    with django_assert_max_num_queries(4):
        assert len(client.get(url(deployment)).json()["times"]) == 58


def test_an_unknown_range_is_refused_with_the_ones_there_are(deployment, bob):
    response = api_as(bob).get(url(deployment, "?range=2w"))
    assert response.status_code == 400
    assert "range" in response.json()


def test_an_outsider_gets_404_as_for_a_deployment_that_does_not_exist(deployment, charlie):
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    assert api_as(charlie).get(url(deployment)).status_code == 404
    assert api_as(charlie).get("/api/v1/deployments/999999/metrics/").status_code == 404


def test_an_anonymous_caller_must_log_in(deployment):
    assert api_as(None).get(url(deployment)).status_code == 401


def test_a_logged_in_browser_session_reads_it_too(deployment, bob, client):
    client.force_login(bob)
    assert client.get(url(deployment, "?range=6h")).status_code == 200

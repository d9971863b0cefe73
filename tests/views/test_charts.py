"""The Overview's health charts: the page includes them, and /deployments/<id>/charts/ renders the stored
series (what static/console/charts.js draws), the ranges and variations to choose, and the rollouts to mark."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Deployment, Model
from monitoring.interval import IntervalStats
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db
INF = float("inf")


@pytest.fixture
def deployment(iris_model: Model, alice) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2), revisions=2, user=alice)


def store(deployment: Deployment, variation: str, seconds_ago: int, requests: int, resolution_s: int = 10) -> None:
    stats = IntervalStats(requests=requests, errors_5xx=1, latency_buckets={0.01: requests - 1, 0.1: requests,
                                                                            INF: requests}, memory_bytes=2e8)
    MetricPoint.of(deployment.pk, variation, timezone.now() - timedelta(seconds=seconds_ago), 10.0, stats,
                   (2, 2), resolution_s).save()


def charts(client: Client, deployment: Deployment, query: str = "") -> tuple[int, str]:
    response = client.get(f"/deployments/{deployment.pk}/charts/{query}")
    return response.status_code, response.content.decode()


def attribute(html: str, name: str) -> object:
    """A data- attribute of the charts section, as JSON."""
    import html as html_lib
    import re

    match = re.search(rf'{name}="([^"]*)"', html)
    assert match, f"no {name} in the charts"
    return json.loads(html_lib.unescape(match.group(1)))


def test_the_overview_loads_the_charts_with_the_chosen_range_and_plotly_from_static(deployment, bob):
    html = logged_in(bob).get(f"/deployments/{deployment.pk}/?range=6h&variation=default").content.decode()
    assert f'hx-get="/deployments/{deployment.pk}/charts/?range=6h&amp;variation=default"' in html
    assert "/static/vendor/plotly-4.1.2.min.js" in html
    assert "/static/console/charts.js" in html
    assert 'id="plotly.js-style-global"' in html  # plotly's rules go into a linked sheet, not a <style>


def test_an_outsider_gets_404_and_an_anonymous_visitor_the_login_page(deployment, charlie):
    assert charts(logged_in(charlie), deployment)[0] == 404
    response = Client().get(f"/deployments/{deployment.pk}/charts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_viewer_sees_every_chart_and_the_stored_points(deployment, alice, bob, dave, deployer):
    store(deployment, WHOLE_DEPLOYMENT, 30, requests=20)
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    store(deployment, "default", 20, requests=7)
    for user in (alice, dave, bob):  # admin, deployer, viewer
        status, html = charts(logged_in(user), deployment, "?range=15m")
        assert status == 200
        for chart in ("latency", "throughput", "errors", "cpu", "memory", "replicas", "batch"):
            assert f'id="chart-{chart}"' in html
        assert "No data yet" not in html
        series = attribute(html, "data-series")
        assert isinstance(series, dict)
        assert (series["range"], series["variation"], len(series["times"])) == ("15m", "", 2)
        assert series["metrics"]["throughput_rps"] == [2.0, 4.0]
        assert series["metrics"]["error_rate_5xx_pct"] == [5.0, 2.5]
        assert f'data-metrics-url="/api/v1/deployments/{deployment.pk}/metrics/?range=15m&amp;variation="' in html


def test_one_variation_shows_its_own_series(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    store(deployment, "default", 20, requests=7)
    html = charts(logged_in(bob), deployment, "?variation=default")[1]
    series = attribute(html, "data-series")
    assert isinstance(series, dict)
    assert (series["variation"], series["metrics"]["throughput_rps"]) == ("default", [0.7])
    assert '<option value="default" selected>default</option>' in html


def test_it_says_no_data_yet_instead_of_empty_charts(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 2 * 3600, requests=40)  # outside the last hour
    html = charts(logged_in(bob), deployment)[1]
    assert 'id="no-metrics"' in html
    assert "No data yet" in html
    assert '<div class="chart-grid" hidden>' in html
    assert "No data yet" not in charts(logged_in(bob), deployment, "?range=6h")[1]


def test_unknown_range_and_variation_fall_back_to_an_hour_of_the_whole_deployment(deployment, bob):
    store(deployment, WHOLE_DEPLOYMENT, 20, requests=40)
    series = attribute(charts(logged_in(bob), deployment, "?range=1y&variation=nope")[1], "data-series")
    assert isinstance(series, dict)
    assert (series["range"], series["variation"], len(series["times"])) == ("1h", "", 1)


def test_the_rollouts_in_range_are_given_with_their_revision_for_the_time_axis(deployment, bob):
    deployment.rollouts.filter(revision=1).update(finished_at=timezone.now() - timedelta(days=2),
                                                  started_at=timezone.now() - timedelta(days=2))
    html = charts(logged_in(bob), deployment, "?range=24h")[1]
    rollouts = attribute(html, "data-rollouts")
    assert isinstance(rollouts, list)
    assert [r["revision"] for r in rollouts] == [2]
    assert rollouts[0]["started_at"]
    rollouts = attribute(charts(logged_in(bob), deployment, "?range=7d")[1], "data-rollouts")
    assert isinstance(rollouts, list)
    assert [r["revision"] for r in rollouts] == [1, 2]

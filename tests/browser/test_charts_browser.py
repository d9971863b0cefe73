"""The Overview's health charts in Chromium: plotly draws the stored points under the Content-Security-Policy,
rollouts are marked on the time axis, and points stored later arrive when the live socket says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from deployments.models import Deployment, Model
from monitoring.interval import IntervalStats
from monitoring.models import WHOLE_DEPLOYMENT, MetricPoint
from monitoring.tasks import announce_points
from tests.browser.test_events_browser import beside_playwright
from tests.browser.test_live_deployment_page import open_deployment_page
from tests.fixtures.browser import screenshot
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
INF = float("inf")
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.sourceFile}`));
"""
POINTS = "(id) => (document.getElementById(id)?.data || []).map((trace) => trace.x.length)"
HAS_POINTS = "([id, n]) => { const data = document.getElementById(id)?.data; return !!data && data[0].x.length === n; }"


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model), replicas=2), revisions=2)


def store(deployment: Deployment, seconds_ago: int, requests: int, variation: str = WHOLE_DEPLOYMENT) -> None:
    stats = IntervalStats(requests=requests, errors_5xx=1, errors_4xx=2, cpu_seconds=3.0, batch_rows=requests,
                          batch_calls=requests, memory_bytes=2.5e8,
                          latency_buckets={0.005: requests // 2, 0.01: requests - 2, 0.05: requests, INF: requests})
    MetricPoint.of(deployment.pk, variation, timezone.now() - timedelta(seconds=seconds_ago), 10.0, stats,
                   (2, 2), 10).save()


def wait_for_points(page: Page, chart: str, points: int) -> None:
    """Until the chart's first trace has that many points (drawn by plotly: its data is on the element)."""
    page.wait_for_function(HAS_POINTS, arg=[chart, points], timeout=30_000)


def test_the_overview_draws_the_stored_points_and_adds_new_ones_when_the_socket_says_so(
        page: Page, live_console, deployment):
    for i in range(30):
        store(deployment, 600 - 20 * i, requests=100 + 7 * i)
    page.add_init_script(WATCH_CSP)
    watch = open_deployment_page(page, live_console, deployment)
    wait_for_points(page, "chart-latency", 30)
    assert page.evaluate(POINTS, "chart-latency") == [30, 30, 30]
    assert page.evaluate(POINTS, "chart-errors") == [30, 30]
    assert page.locator("#chart-latency .main-svg").count() > 0  # plotly drew an SVG, not an empty frame
    assert page.locator("#no-metrics").count() == 0
    # The rollouts of the last hour as markers labelled with their revision.
    assert page.locator("#chart-latency .annotation-text", has_text="rev 2").count() == 1
    # Plotly's hover, over the newest point (the right edge: the points are the last ten minutes of the hour).
    box = page.locator("#chart-throughput .nsewdrag").bounding_box()
    assert box is not None
    page.hover("#chart-throughput .nsewdrag", position={"x": box["width"] - 2, "y": box["height"] / 2})
    page.wait_for_selector("#chart-throughput .hoverlayer text")
    assert "30.3" in (page.text_content("#chart-throughput .hoverlayer") or "")  # the newest point: 303 requests / 10 s
    assert page.evaluate("window.__csp") == []
    screenshot(page, "deployment-overview-charts")
    watch.errors.clear()  # the screenshot's own caret-hiding <style>, which the policy refuses (Playwright's)

    store(deployment, 1, requests=500)
    beside_playwright(announce_points, deployment.pk)  # what the scrape task does once it stored points
    wait_for_points(page, "chart-latency", 31)
    assert page.evaluate(POINTS, "chart-throughput") == [31]
    assert page.evaluate("document.getElementById('chart-throughput').data[0].y.at(-1)") == 50.0
    assert page.evaluate("window.__csp") == []
    assert watch.errors == []


def test_with_no_points_it_says_no_data_yet_and_draws_nothing(page: Page, live_console, deployment):
    watch = open_deployment_page(page, live_console, deployment)
    page.wait_for_selector("#no-metrics")
    assert "No data yet" in page.inner_text("#no-metrics")
    assert page.locator(".js-plotly-plot").count() == 0

    store(deployment, 1, requests=40)  # the first point: the charts appear
    beside_playwright(announce_points, deployment.pk)
    wait_for_points(page, "chart-throughput", 1)
    assert page.locator("#no-metrics").count() == 0
    assert watch.errors == []


def test_a_range_and_a_variation_are_chosen_by_links_and_a_list(page: Page, live_console, deployment):
    store(deployment, 3 * 3600, requests=40)  # in the last 6 hours, not the last hour
    store(deployment, 20, requests=10, variation="default")
    open_deployment_page(page, live_console, deployment)
    page.wait_for_selector("#no-metrics")
    page.click("#range-6h")
    wait_for_points(page, "chart-throughput", 1)
    assert "range=6h" in page.url
    page.select_option("#chart-variation-select", "default")
    page.wait_for_url("**variation=default**")
    wait_for_points(page, "chart-throughput", 1)
    assert page.evaluate("document.getElementById('chart-throughput').data[0].y") == [1.0]

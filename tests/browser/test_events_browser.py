"""The Rollouts & events tab in Chromium: filters and pages with htmx (and without JavaScript), links in
messages, times with their zone on hover, and new events that keep to the filter."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page

from deployments.models import Deployment, EventKind, EventLevel, Model, RolloutEvent
from deployments.rollouts.events import record_event
from deployments.state.page import EVENTS_PER_PAGE
from tests.browser.test_live_deployment_page import SocketWatch
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)), revisions=2)
    RolloutEvent.objects.create(
        deployment=deployment, kind=EventKind.REPLICA_CRASHED, level=EventLevel.ERROR,
        message="Replica default-0 exited with code 3 <oops>; see https://docs.example.com/exit-codes.",
        created_at=deployment.created_at - timedelta(days=2))
    for i in range(EVENTS_PER_PAGE + 3):
        RolloutEvent.objects.create(deployment=deployment, kind=EventKind.REPLICA_READY, message=f"Ready {i}.")
    return deployment


def beside_playwright(work: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run what publishes to the channel layer on another thread: this one runs Playwright's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work, *args, **kwargs).result()


def checked_screenshot(page: Page, watch: SocketWatch, name: str) -> None:
    """No console error so far; then the docs screenshot, whose own caret-hiding <style> the CSP refuses
    (a console error of Playwright's making, dropped)."""
    assert watch.errors == []
    screenshot(page, name)
    watch.errors.clear()


def open_events(page: Page, base_url: str, deployment: Deployment, query: str = "") -> SocketWatch:
    watch = SocketWatch()
    log_in(page, base_url, "alice", PASSWORD)
    watch.attach(page)
    page.add_init_script(
        "document.addEventListener('htmx:wsOpen', () => { window.__wsOpens = (window.__wsOpens || 0) + 1; })")
    page.goto(f"{base_url}/deployments/{deployment.pk}/events/{query}")
    page.wait_for_function("() => window.__wsOpens === 1")
    return watch


def test_choosing_a_level_filters_the_events_in_place_and_the_socket_follows(page, live_console, deployment):
    watch = open_events(page, live_console, deployment)
    page.evaluate("window.__sameDocument = true")

    page.select_option("#event-level", "error")
    page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/events/?level=error&kind=")
    page.wait_for_function("() => window.__wsOpens === 2")  # the live part was swapped: its socket reopened
    checked_screenshot(page, watch, "deployment-events-filtered")

    rows = page.locator("#event-list .event")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-level") == "error"
    assert page.evaluate("window.__sameDocument") is True, "the filter reloaded the page instead of swapping"
    assert "level=error" in watch.opened[-1]
    beside_playwright(record_event, deployment, EventKind.SCALED, "Routine, not an error.")
    beside_playwright(record_event, deployment, EventKind.FAILED, "Fresh failure.", level=EventLevel.ERROR)
    page.wait_for_selector("#event-list .event >> text=Fresh failure.")
    assert page.locator("#event-list >> text=Routine, not an error.").count() == 0
    assert watch.errors == []


def test_an_event_url_is_a_link_its_markup_text_and_an_old_time_shows_its_date(page, live_console, deployment):
    open_events(page, live_console, deployment, "?level=error")

    link = page.locator("#event-list a[href='https://docs.example.com/exit-codes']")
    when = page.locator("#event-list .event time").first

    assert link.inner_text() == "https://docs.example.com/exit-codes"
    assert "<oops>" in page.locator("#event-list .event .what").first.inner_text()
    assert when.get_attribute("title").endswith(" UTC")
    assert when.inner_text().startswith(when.get_attribute("datetime")[:10])  # another day: its date is shown


def test_older_events_are_one_click_away_and_the_filter_stays(page, live_console, deployment):
    open_events(page, live_console, deployment, "?kind=replica_ready")

    page.click("#older-events")
    page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/events/?kind=replica_ready&page=2")
    page.wait_for_selector("#newer-events")

    ready = deployment.events.filter(kind=EventKind.REPLICA_READY).count()
    assert page.locator("#event-list .event").count() == ready - EVENTS_PER_PAGE
    assert page.locator("#event-kind").input_value() == "replica_ready"


def test_filters_work_without_javascript(browser: Browser, live_console, deployment):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_console, "alice", PASSWORD)
        page.goto(f"{live_console}/deployments/{deployment.pk}/events/")
        page.select_option("#event-level", "error")
        page.click("#event-filters button[type=submit]")
        page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/events/?level=error&kind=")

        assert page.locator("#event-list .event").count() == 1
    finally:
        context.close()


def test_back_after_filtering_shows_the_unfiltered_events_again(page, live_console, deployment):
    watch = open_events(page, live_console, deployment)
    page.select_option("#event-level", "error")
    page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/events/?level=error&kind=")
    page.wait_for_function("() => window.__wsOpens === 2")  # the filtered view is live

    page.go_back()
    page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/events/")
    page.wait_for_function(f"() => document.querySelectorAll('#event-list .event').length === {EVENTS_PER_PAGE}")

    assert page.locator("#event-level").input_value() == ""
    assert page.locator(".topbar").count() == 1
    page.wait_for_function("() => window.__wsOpens === 3")  # the restored view is live again
    assert watch.errors == []

"""In Chromium: the message an action flashes follows the work, e.g. "Undeploy started" turns into
"Undeployed" on the open page when the undeploy ends, without a reload."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Model, Rollout, RolloutStatus
from deployments.rollouts.events import publish_deployment
from tests.browser.test_events_browser import beside_playwright
from tests.browser.test_live_deployment_page import open_deployment_page
from tests.fixtures.browser import screenshot
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def undeploy_ended(rollout: Rollout) -> None:
    """What the rollout engine does at the end of an undeploy: store the end, tell the page."""
    rollout.finish(RolloutStatus.SUCCEEDED)
    publish_deployment(rollout.deployment)


def test_undeploy_started_becomes_undeployed_when_the_undeploy_ends(page, live_console, deployment):
    page.add_init_script("document.addEventListener('htmx:wsAfterMessage', "
                         "() => { window.__wsMessages = (window.__wsMessages || 0) + 1; })")
    watch = open_deployment_page(page, live_console, deployment)
    page.wait_for_function("() => window.__wsMessages >= 1")  # the form as the live socket re-rendered it

    page.click("#undeploy summary")
    page.fill("#confirm-undeploy", "iris")
    page.click("#undeploy button[type=submit]")
    page.wait_for_selector(".messages li[data-work=running]:has-text('Undeploy started')")
    page.wait_for_function("() => window.__wsOpens === 1")  # the new page's socket, told about the message
    screenshot(page, "message-undeploy-started")
    rollout = deployment.rollouts.get(action="undeploy")
    page.evaluate("window.__sameDocument = true")
    beside_playwright(undeploy_ended, rollout)

    done = page.locator(f"#notice-rollout-{rollout.pk}[data-work=done]")
    done.wait_for()
    screenshot(page, "message-undeployed")
    assert done.inner_text() == "Undeployed: every replica and the gateway stopped."
    assert page.locator(".messages li").count() == 1
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of updating live"
    assert watch.errors == []

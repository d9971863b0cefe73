"""In Chromium: the message an action flashes follows the work, e.g. "Undeploy started" turns into
"Undeployed" on the open page when the undeploy ends, without a reload."""

from __future__ import annotations

import pytest

from console.locks import held_lock
from deployments.models import Deployment, EventKind, Model, Rollout, RolloutStatus
from deployments.rollouts.engine import lock_name
from deployments.rollouts.events import record_event
from tests.browser.test_events_browser import beside_playwright, checked_screenshot
from tests.browser.test_live_deployment_page import open_deployment_page
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.stand_in_runtime import observed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def undeploy_ended(rollout: Rollout) -> None:
    """What the rollout engine does at the end of an undeploy (as tests/fixtures/deployments.py's
    undeployed_deployment leaves it): the rollout ends, nothing serves, its last look sees nothing run."""
    deployment = rollout.deployment
    rollout.finish(RolloutStatus.SUCCEEDED)
    record_event(deployment, EventKind.UNDEPLOYED, "Every replica and the gateway were stopped.", rollout=rollout)
    deployment.variations.all().delete()
    deployment.current_rollout = None
    deployment.save()
    observed(deployment, [])  # settles the status and tells the page


def test_undeploy_started_becomes_undeployed_when_the_undeploy_ends(page, live_console, deployment):
    # The rollout engine's lock, held here: a Celery worker of this session cannot run the undeploy
    # before the page has shown it under way; the test ends it as the engine would.
    with held_lock(lock_name(deployment.pk)) as held:
        assert held
        _undeploy_and_watch_the_message(page, live_console, deployment)


def _undeploy_and_watch_the_message(page, live_console, deployment) -> None:
    page.add_init_script("document.addEventListener('htmx:wsAfterMessage', "
                         "() => { window.__wsMessages = (window.__wsMessages || 0) + 1; })")
    watch = open_deployment_page(page, live_console, deployment)
    page.wait_for_function("() => window.__wsMessages >= 1")  # the form as the live socket re-rendered it

    page.click("#undeploy summary")
    page.fill("#confirm-undeploy", "iris")
    page.click("#undeploy button[type=submit]")
    page.wait_for_selector(".messages li[data-work=running]:has-text('Undeploy started')")
    page.wait_for_function("() => window.__wsOpens === 1")  # the new page's socket, told about the message
    checked_screenshot(page, watch, "message-undeploy-started")
    rollout = deployment.rollouts.get(action="undeploy")
    page.evaluate("window.__sameDocument = true")
    beside_playwright(undeploy_ended, rollout)

    done = page.locator(f"#notice-rollout-{rollout.pk}[data-work=done]")
    done.wait_for()
    assert done.inner_text() == "Undeployed: every replica and the gateway stopped."
    assert page.locator(".messages li").count() == 1
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of updating live"
    page.locator("#deployment-status[data-status=stopped]").wait_for()
    checked_screenshot(page, watch, "message-undeployed")

"""A data scientist deploys iris from its Builds tab and watches it go live without reloading the page."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from deployments.models import Deployment, DeploymentStatus
from deployments.models.instance_type import ensure_catalog
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.people import PASSWORD
from tests.fixtures.runtime import ready_build

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def stop_what_was_deployed(db: None) -> Iterator[None]:
    yield
    from deployments.backends.base import get_backend

    for deployment in Deployment.objects.all():
        get_backend().delete(deployment)


def test_the_wizard_takes_a_ready_build_to_a_running_deployment_with_live_events(
        page, supervisord, celery_worker, live_console, iris_model, alice, stop_what_was_deployed):
    ensure_catalog()
    build = ready_build(iris_model)
    log_in(page, live_console, "alice", PASSWORD)

    page.goto(f"{live_console}/models/iris/")
    page.click(f"#build-{build.build_id} a.deploy-build")
    page.wait_for_selector("#deploy-kind")
    assert page.is_checked("input[value=realtime]")
    screenshot(page, "deploy-1-realtime")
    page.click("button:has-text('Next')")

    page.wait_for_selector("#deploy-form")
    assert page.input_value("#id_variations-0-name") == "default"
    assert page.input_value("#id_variations-0-build_id") == str(build.build_id)
    page.fill("#id_variations-0-name", "Default!")  # checked as the user types
    page.wait_for_selector("#err-variations-0-name li")
    assert "lowercase letters" in page.inner_text("#err-variations-0-name")
    page.fill("#id_variations-0-replicas", "500")
    page.wait_for_selector("#err-variations-0-replicas li")
    screenshot(page, "deploy-2-configure-errors")
    page.fill("#id_variations-0-name", "default")
    page.fill("#id_variations-0-replicas", "1")
    page.wait_for_selector("#err-variations-0-name li", state="detached")
    page.wait_for_selector("#err-variations-0-replicas li", state="detached")

    page.click("details.advanced summary")
    page.fill("#id_variations-0-server_workers", "1")
    page.fill("#id_variations-0-request_timeout_ms", "5000")
    page.click("button:has-text('Add a variable')")
    page.wait_for_selector("#id_variations-0-env-0-name")
    page.fill("#id_variations-0-env-0-name", "FEATURE_STORE_TOKEN")
    page.fill("#id_variations-0-env-0-value", "s3cr3t-value")
    page.check("#id_variations-0-env-0-secret")
    screenshot(page, "deploy-3-configure")
    page.click("#review")

    page.wait_for_selector("#review-diff")
    assert "First deployment" in page.inner_text("h2:below(#review-variations)")
    screenshot(page, "deploy-4-review")
    page.click("#deploy")

    page.wait_for_url(f"{live_console}/deployments/*/events/")
    page.evaluate("window.__sameDocument = true")
    page.wait_for_selector("#event-list .event[data-kind=replica_ready]", timeout=90_000)
    page.wait_for_selector("#event-list .event[data-kind=succeeded]", timeout=90_000)
    page.wait_for_selector("#deployment-status[data-status=running]", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of streaming events"
    assert "1/1 replicas ready" in page.inner_text("#replica-counts")
    kinds = page.eval_on_selector_all("#event-list .event", "rows => rows.map(r => r.dataset.kind)")
    assert kinds.index("succeeded") < kinds.index("traffic_switched") < kinds.index("replica_ready") \
        < kinds.index("created")  # newest first
    screenshot(page, "deployment-events")

    deployment = Deployment.objects.get(model=iris_model)
    assert deployment.status == DeploymentStatus.RUNNING
    page.click("nav.tabs >> text=Overview")
    assert page.inner_text("#predict-url") == deployment.predict_url
    assert "curl -X POST" in page.inner_text("#curl-snippet")
    assert page.locator("#replicas [data-state=ready]").count() == 1
    screenshot(page, "deployment-overview")
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).json() == [{"species": 0}]

    page.click("nav.tabs >> text=Configuration")
    assert "FEATURE_STORE_TOKEN=••••••" in page.inner_text("#config-default")
    assert "s3cr3t" not in page.content()
    screenshot(page, "deployment-configuration")

    page.click("#edit-deployment")  # the next change starts from what serves and shows the diff
    page.wait_for_selector("#deploy-form")
    page.fill("#id_variations-0-replicas", "2")
    page.click("#review")
    page.wait_for_selector("#review-diff")
    assert "Changes compared with revision 1 (serving now)" in page.content()
    assert "Replicas" in page.inner_text("#review-diff")
    assert "s3cr3t" not in page.content()
    screenshot(page, "deploy-5-review-diff")

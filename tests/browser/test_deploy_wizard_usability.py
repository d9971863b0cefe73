"""The deploy wizard as a new user finds it (issue 12): Enter, errors that stay, removing a
variation, the error summary, a schema change to acknowledge, and a model with nothing to deploy.

Nothing is deployed here, so no worker or runtime: the live console and Chromium only.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from deployments.models import Build, Model, Rollout
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


@pytest.fixture
def wizard(page, live_console, alice, build):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/deploy/realtime/")
    page.wait_for_selector("#deploy-form")
    return page


def test_enter_in_a_field_goes_to_review(wizard):
    wizard.fill("#id_variations-0-replicas", "2")
    wizard.press("#id_variations-0-replicas", "Enter")

    wizard.wait_for_selector("#review-diff")
    assert "<td>2</td>" in wizard.inner_html("#review-variations")


def test_adding_a_variable_keeps_the_errors_of_the_values_still_wrong(wizard):
    wizard.fill("#id_variations-0-replicas", "0")
    wizard.wait_for_selector("#err-variations-0-replicas li")
    wizard.click("details.advanced summary")

    wizard.click("button:has-text('Add a variable')")

    wizard.wait_for_selector("#id_variations-0-env-0-name")
    assert wizard.input_value("#id_variations-0-replicas") == "0"
    assert wizard.inner_text("#err-variations-0-replicas") == "Must be from 1 to 100 (got 0)."


def test_removing_a_variation_removes_it_and_updates_the_traffic_total(wizard):
    wizard.click("button:has-text('Add a variation')")
    wizard.wait_for_selector("#variation-1")
    wizard.fill("#id_variations-1-traffic_percent", "50")
    wizard.fill("#id_variations-0-traffic_percent", "50")
    wizard.wait_for_function("document.querySelector('#traffic-total strong').textContent === '100%'")

    wizard.click("#remove-variation-1")

    wizard.wait_for_selector("#variation-1", state="detached")
    # The total is recounted once the swapped form has settled; it must come to 100% and stay there.
    expect(wizard.locator("#traffic-total strong")).to_have_text("100%")
    assert wizard.input_value("#id_variations-0-traffic_percent") == "100"
    assert wizard.locator("text=Remove this variation").count() == 0


def test_a_failed_review_focuses_a_summary_whose_links_lead_to_the_fields(wizard):
    wizard.fill("#id_variations-0-replicas", "0")
    wizard.fill("#id_variations-0-name", "Bad_Name!")

    wizard.click("#review")

    wizard.wait_for_selector("#error-summary")
    assert wizard.evaluate("document.activeElement.id") == "error-summary"
    assert "2 things to fix before Review" in wizard.inner_text("#error-summary")
    screenshot(wizard, "deploy-2b-error-summary")
    wizard.click("#error-summary a[href='#id_variations-0-replicas']")
    assert wizard.evaluate("document.activeElement.id") == "id_variations-0-replicas"


def test_a_schema_change_must_be_acknowledged_before_deploy(page, live_console, alice, iris_model, build):
    build.output_schema = [{"name": "species", "dtype": "int64"}]
    build.save()
    serving_deployment(iris_model, variation(build))
    newer = a_ready_build(iris_model, source_name="iris-v2.tar.gz",
                          output_schema=[{"name": "prediction", "dtype": "int64"}])
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/deploy/realtime/?build={newer.build_id}")

    page.click("#review")
    page.wait_for_selector("#schema-warning")
    assert "Output field species is gone" in page.inner_text("#schema-warning")
    screenshot(page, "deploy-4b-review-schema-change")
    page.click("#deploy")  # the browser refuses: the box is not ticked

    assert page.evaluate("document.querySelector('#acknowledge-schema').matches(':invalid')")
    assert page.url.endswith("/deploy/realtime/")
    assert page.locator("#schema-warning").count() == 1
    assert Rollout.objects.count() == 1  # only the revision serving


def test_a_model_without_a_ready_build_says_why_and_leads_to_uploading_one(page, live_console, alice, iris_model):
    log_in(page, live_console, "alice", PASSWORD)

    page.goto(f"{live_console}/models/iris/deploy/")

    assert "iris has no ready build yet" in page.inner_text("#no-ready-build")
    screenshot(page, "deploy-0-no-ready-build")
    page.click("#no-ready-build >> text=Upload a build")
    page.wait_for_url(f"{live_console}/models/iris/#upload-build")
    assert page.locator("#upload-build").is_visible()

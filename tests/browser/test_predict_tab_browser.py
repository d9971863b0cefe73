"""The Prediction tab in Chromium: invalid JSON flagged before sending, a prediction, saved cases pass and fail.

The gateway is a small real HTTP server standing in for it (the real gateway and replica are tested
at view level in tests/views/test_predict_tab_real_gateway.py).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from deployments.models import Deployment
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD
from tests.fixtures.stand_in_gateway import StandInGateway

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def stand_in(gateway: StandInGateway) -> StandInGateway:
    return gateway


@pytest.fixture
def deployment(behind_stand_in: Deployment) -> Deployment:
    return behind_stand_in


def type_request(page: Page, text: str) -> None:
    """Replace the request in the JSON editor, as a user selecting all and typing would."""
    page.fill("#predict-body-editor .cm-content", text)


def request_text(page: Page) -> str:
    """What the form will send: the field the editor keeps in step."""
    return page.input_value("#predict-body")


def open_tab(page: Page, base_url: str, deployment: Deployment) -> None:
    log_in(page, base_url, "alice", PASSWORD)
    page.goto(f"{base_url}/deployments/{deployment.pk}/")
    page.get_by_role("link", name="Prediction").click()
    page.wait_for_url(f"{base_url}/deployments/{deployment.pk}/predict/")


def test_invalid_json_is_flagged_in_the_browser_and_nothing_is_sent(page, live_console, deployment, stand_in):
    open_tab(page, live_console, deployment)

    type_request(page, '{"sepal_length": 5.1,')
    expect(page.locator("#predict-body-editor .cm-lint-marker-error")).to_be_visible()  # marked where it is
    page.click("#predict-button")

    expect(page.locator("#predict-body-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#predict-body-editor .cm-content")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#predict-empty")).to_be_visible()  # the result box was not replaced
    assert stand_in.received == []


def test_a_prediction_returns_and_a_saved_case_passes_while_a_changed_one_fails(page, live_console, deployment,
                                                                                stand_in):
    open_tab(page, live_console, deployment)
    assert json.loads(request_text(page)) == deployment.variations.get().build.example_input

    page.click("#predict-button")
    expect(page.locator("#predict-status")).to_have_text("HTTP 200")
    expect(page.locator("#predict-served-by")).to_have_text("default")
    expect(page.locator("#predict-response")).to_contain_text('"species": 0')
    expect(page.locator("#predict-history .history-row")).to_have_count(1)
    screenshot(page, "deployment-prediction")

    page.click("#save-case summary")
    page.fill("#case-name", "setosa")
    page.click("#case-save")
    expect(page.locator("#case-saved")).to_contain_text("setosa")
    page.fill("#case-name", "changed")
    page.fill("#case-expected", '[{"species": 2}]')
    page.click("#case-save")
    expect(page.locator("#case-saved")).to_contain_text("changed")

    page.click("#run-cases-button")
    expect(page.locator("#run-summary")).to_contain_text("1 of 2 passed")
    expect(page.locator("tr[data-case=setosa]")).to_have_attribute("data-result", "pass")
    expect(page.locator("tr[data-case=changed]")).to_have_attribute("data-result", "fail")
    expect(page.locator("tr[data-case=changed] .case-diff")).to_contain_text("$[0].species: expected 2, got 0")
    screenshot(page, "deployment-prediction-cases")

    type_request(page, "{}")
    page.click("#predict-history a.refill")
    expect(page.locator("#predict-body-editor .cm-content")).to_contain_text("sepal_length")
    assert json.loads(request_text(page)) == json.loads(stand_in.received[0][1])


def test_a_csv_file_is_sent_instead_of_the_text_and_an_oversize_file_is_refused_in_the_browser(
        page, live_console, deployment, stand_in, tmp_path):
    rows = tmp_path / "iris.csv"
    rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"[" + b" " * (9 * 1024 * 1024) + b"]")
    open_tab(page, live_console, deployment)

    page.set_input_files("#predict-file", str(huge))
    page.click("#predict-button")
    expect(page.locator("#predict-body-error")).to_contain_text("the limit for a test prediction is 8 MB")
    assert stand_in.received == []

    page.set_input_files("#predict-file", str(rows))
    expect(page.locator("#predict-body-error")).to_be_empty()
    page.click("#predict-button")
    expect(page.locator("#predict-status")).to_have_text("HTTP 200")
    expect(page.locator("#predict-file-sent")).to_contain_text("Sent iris.csv: 1 row of 4 columns")
    assert json.loads(stand_in.received[0][1]) == {
        "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2]]}

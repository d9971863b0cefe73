"""The Logs tab in Chromium against a real deployment (supervisord, gateway, a replica whose model prints):
a prediction's lines appear live, the request-id filter applies to the page and to new lines, pause
holds new lines until resume, and a download returns the lines."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from deployments.logs.history import MAX_PAGE_LINES
from deployments.models import Deployment
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.people import PASSWORD
from tests.logs.conftest import deployed_printing_model

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
BUSY = MAX_PAGE_LINES // 2 + 10  # predictions a busy deployment answered while its Logs tab was open
WAIT_MS = 60_000  # a generous deadline for a line to travel replica -> file -> reader -> socket on a busy machine


@pytest.fixture
def deployment(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    yield from deployed_printing_model(iris_model, alice)


def predict(deployment: Deployment, request_id: str) -> None:
    answer = httpx.post(deployment.predict_url, json=[IRIS_ROW], headers={"X-Request-Id": request_id}, timeout=30)
    assert answer.status_code == 200, answer.text


def lines(page: Page) -> list[str]:
    return page.locator("#log-lines .log-line").all_inner_texts()


def test_a_predictions_lines_appear_live_filter_pause_and_download(page, live_console, deployment, tmp_path: Path):
    first, other = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("first", "other"))
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/deployments/{deployment.pk}/")
    page.get_by_role("link", name="Logs").click()
    page.wait_for_url(f"{live_console}/deployments/{deployment.pk}/logs/")
    expect(page.locator("#logs-panel")).to_have_attribute("data-live", "open", timeout=WAIT_MS)

    predict(deployment, first)

    expect(page.locator("#log-lines")).to_contain_text("request  POST /v1/predict 200", timeout=WAIT_MS)
    expect(page.locator(".log-line", has_text=f"req={first}").filter(has_text="scoring 1 rows")).to_have_count(
        1, timeout=WAIT_MS)
    screenshot(page, "deployment-logs")

    page.fill("#log-request-id", first)
    page.click("#log-filter-button")
    expect(page).to_have_url(re.compile(rf"/deployments/{deployment.pk}/logs/\?.*request_id={first}$"))
    expect(page.locator("#logs-panel")).to_have_attribute("data-live", "open", timeout=WAIT_MS)
    assert lines(page)
    assert all(line.endswith(f"req={first}") for line in lines(page)), lines(page)

    predict(deployment, other)
    predict(deployment, first)  # a caller may send the same id again: its new lines match the filter
    scoring = page.locator(".log-line", has_text="scoring 1 rows")
    expect(scoring).to_have_count(2, timeout=WAIT_MS)
    assert not [line for line in lines(page) if other in line]

    page.click("#logs-pause")
    expect(page.locator("#logs-pause")).to_have_text("Resume")
    predict(deployment, first)
    expect(page.locator("#logs-state")).to_contain_text("held", timeout=WAIT_MS)
    expect(page.locator("#logs-state")).to_contain_text("new batch", timeout=WAIT_MS)
    assert scoring.count() == 2  # held, not shown
    page.click("#logs-pause")
    expect(scoring).to_have_count(3)

    with page.expect_download() as download:
        page.click("#download-button")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    text = saved.read_text().splitlines()
    assert download.value.suggested_filename.endswith(".log")
    assert len([line for line in text if "scoring 1 rows" in line]) == 3
    assert all(line.endswith(f"req={first}") for line in text)


def test_a_prediction_from_the_prediction_tab_shows_its_own_log_lines(page, live_console, deployment):
    log_in(page, live_console, "bob", PASSWORD)  # a viewer may predict and read logs
    page.goto(f"{live_console}/deployments/{deployment.pk}/predict/")

    page.click("#predict-button")

    expect(page.locator("#predict-status")).to_have_text("HTTP 200", timeout=WAIT_MS)
    request_id = page.inner_text("#predict-request-id")
    box = page.locator("#request-logs")
    expect(box).to_contain_text("Log lines of this request")
    expect(box.locator(".log-line", has_text="scoring 1 rows")).to_have_count(1, timeout=WAIT_MS)
    expect(box.locator(".log-line", has_text="request  POST /v1/predict 200")).to_have_count(1, timeout=WAIT_MS)
    assert all(line.endswith(f"req={request_id}") for line in box.locator(".log-line").all_inner_texts())


def test_after_a_dropped_socket_the_lines_written_meanwhile_appear_however_long_the_page_was_open(
        page, live_console, deployment):
    """The reconnect asks for the seconds it missed, not for the page's first cursor (which, once more
    than MAX_PAGE_LINES were written since the page loaded, replays only lines the viewer already has)."""
    routes: list[WebSocketRoute] = []
    refusing = {"on": False}

    def through(ws: WebSocketRoute) -> None:
        if refusing["on"]:
            ws.close(code=1011)  # the console is away: every reconnect fails until it is back
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/ws/deployments/\d+/logs/"), through)
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/deployments/{deployment.pk}/logs/")
    expect(page.locator("#logs-panel")).to_have_attribute("data-live", "open", timeout=WAIT_MS)
    busy = f"busy-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=30) as client:
        for _ in range(BUSY):  # two lines each (the request's, the model's print): past a page
            assert client.post(deployment.predict_url, json=[IRIS_ROW], headers={"X-Request-Id": busy}).is_success
    expect(page.locator(".log-line", has_text=f"req={busy}").filter(has_text="scoring 1 rows")).to_have_count(
        BUSY, timeout=WAIT_MS)

    refusing["on"] = True
    routes[-1].close(code=1011)
    expect(page.locator("#logs-panel")).to_have_attribute("data-live", "closed", timeout=WAIT_MS)
    missed = f"missed-{uuid.uuid4().hex[:8]}"
    predict(deployment, missed)
    refusing["on"] = False

    expect(page.locator(".log-line", has_text=f"req={missed}").filter(has_text="scoring 1 rows")).to_have_count(
        1, timeout=WAIT_MS)
    assert "backlog=" in routes[-1].url
    assert "after=" not in routes[-1].url

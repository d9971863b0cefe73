"""Error pages in the browser: inside the layout, a way back that works, and no request for an icon that 404s."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Response

from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def failed_responses(page: Page) -> list[str]:
    failed: list[str] = []

    def on_response(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    return failed


def test_a_missing_page_shows_the_console_around_it_and_goes_back(page, live_console, project, alice):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/projects/{project.slug}/")

    response = page.goto(f"{live_console}/projects/no-such-project/")
    screenshot(page, "not-found")

    assert response is not None
    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"
    assert page.locator(".topbar >> text=API tokens").is_visible()
    page.click("text=Back to the previous page")
    page.wait_for_url(f"{live_console}/projects/{project.slug}/")
    page.go_forward()
    page.click("text=Go to your projects")
    page.wait_for_url(f"{live_console}/projects/")


def test_pages_load_their_icon_without_a_404(page, live_console, alice):
    failed = failed_responses(page)
    log_in(page, live_console, "alice", PASSWORD)

    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    answered = page.goto(f"{live_console}/favicon.ico")

    assert icon == f"{live_console}/static/favicon.svg"
    assert answered is not None
    assert answered.status == 200
    assert answered.url == icon
    assert failed == []

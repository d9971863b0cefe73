"""The Overview's snippets in the browser: each has a working copy button, also after live updates."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from deployments.models import Deployment, Model
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SNIPPETS = {"curl": "Copy curl", "cli": "Copy CLI", "python": "Copy Python"}


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def open_overview_once_live(page: Page, base_url: str, deployment: Deployment) -> None:
    """The page as it stands after its socket's first update has replaced the live fragments."""
    log_in(page, base_url, "alice", PASSWORD)
    page.add_init_script("document.addEventListener('htmx:wsAfterMessage', () => { window.__wsMessages = "
                         "(window.__wsMessages || 0) + 1; })")
    page.goto(f"{base_url}/deployments/{deployment.pk}/")
    page.wait_for_function("() => window.__wsMessages >= 1")


def test_every_snippet_is_copied_by_its_button_as_shown(page, live_console, deployment):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_console)
    open_overview_once_live(page, live_console, deployment)
    screenshot(page, "deployment-overview-snippets")

    for name, label in SNIPPETS.items():
        buttons = page.locator(f"button[data-copy={name}-snippet]")
        assert buttons.count() == 1, f"{name}: {buttons.count()} copy buttons"
        assert buttons.inner_text() == label
        buttons.click()
        assert page.evaluate("navigator.clipboard.readText()") == page.inner_text(f"#{name}-snippet").strip()
        assert buttons.inner_text() == "Copied"


def test_the_snippets_name_the_console_the_browser_is_on(page, live_console, deployment):
    open_overview_once_live(page, live_console, deployment)

    assert page.inner_text("#cli-snippet").splitlines()[0] == f"export BERTH_URL={live_console}"
    assert f'os.environ["BERTH_URL"] = "{live_console}"' in page.inner_text("#python-snippet")
    page.click("#tokens-link")
    page.wait_for_url(f"{live_console}/settings/tokens/")
    assert page.inner_text("h1") == "API tokens"

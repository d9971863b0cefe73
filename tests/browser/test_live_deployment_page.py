"""A deployment page left open keeps its live socket, and a page whose socket dropped catches up on reconnect."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from playwright.sync_api import ConsoleMessage, Page, WebSocket

from deployments.models import Deployment, Model
from tests.fixtures.browser import log_in
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import PASSWORD
from tests.fixtures.stand_in_runtime import one_replica_crashed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

OPEN_S = 60  # three of uvicorn's 20 s pings and twelve of channels-redis's 5 s blocking reads
# The htmx ws extension (static/vendor/htmx-ext-ws-*.js) retries after a random 0..2^n s ("full
# jitter", n = failed attempts so far, at most 6): a few failures while Redis restarts add up to
# well under this.
RECONNECT_TIMEOUT_MS = 60_000


@dataclass
class SocketWatch:
    """What the page's WebSockets and console said while it was open."""

    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def on_websocket(ws: WebSocket) -> None:
            self.opened.append(ws.url)
            ws.on("close", lambda _ws: self.closed.append(ws.url))

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("websocket", on_websocket)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))


def open_deployment_page(page: Page, base_url: str, deployment: Deployment) -> SocketWatch:
    """Log in as alice, open the page and wait until its live socket is open."""
    watch = SocketWatch()
    log_in(page, base_url, "alice", PASSWORD)
    watch.attach(page)
    # Counted by the page itself: htmx's ws extension fires htmx:wsOpen on each (re)connect.
    page.add_init_script(
        "document.addEventListener('htmx:wsOpen', () => { window.__wsOpens = (window.__wsOpens || 0) + 1; })")
    page.goto(f"{base_url}/deployments/{deployment.pk}/")
    page.wait_for_function("() => window.__wsOpens === 1")
    page.evaluate("window.__sameDocument = true")
    return watch


@pytest.fixture
def deployment(iris_model: Model) -> Deployment:
    return serving_deployment(iris_model, variation(a_ready_build(iris_model)))


def test_a_deployment_page_left_open_for_a_minute_keeps_its_socket(page, live_console, deployment):
    watch = open_deployment_page(page, live_console, deployment)

    page.wait_for_timeout(OPEN_S * 1000)  # the page idles; what is checked is what happened meanwhile

    assert watch.closed == []
    assert watch.errors == []
    assert len(watch.opened) == 1
    assert page.evaluate("window.__wsOpens") == 1


def test_a_page_whose_socket_dropped_shows_the_current_status_after_it_reconnects(
    page, console_on_live_redis, deployment
):
    watch = open_deployment_page(page, console_on_live_redis.url, deployment)
    assert page.locator("#deployment-status").get_attribute("data-status") == "running"

    console_on_live_redis.redis.kill()  # the console's consumers lose Redis: every socket drops
    one_replica_crashed(deployment)  # meanwhile the health check sees a crash; its live update goes nowhere
    console_on_live_redis.redis.start()

    page.wait_for_function("() => document.querySelector('#deployment-status').dataset.status === 'degraded'",
                           timeout=RECONNECT_TIMEOUT_MS)
    assert page.locator("#deployment-status").inner_text() == "Degraded"
    assert watch.closed, "the socket never dropped, so this tested nothing"
    assert page.evaluate("window.__wsOpens") > 1
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of catching up live"

"""A phone-sized window (390×844, issue 12): no page scrolls sideways, the top bar fits, and a wide table
scrolls inside its own box instead of widening the page (whose own sideways scrolling is never just hidden).
"""

from __future__ import annotations

import pytest

from deployments.models import Model, Project
from tests.browser.tour import STOPS, Stop, World, beside_playwright, make_world, visit
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = {"model-builds": "small-screen-model-builds", "deployment-overview": "small-screen-deployment-overview",
               "deployment-events": "small-screen-deployment-events"}


@pytest.fixture
def world(project: Project, iris_model: Model) -> World:
    return beside_playwright(make_world, project, iris_model)


def wider_than_the_window(page) -> list[str]:
    """The elements whose right edge passes the window's, outside any box that scrolls them."""
    return page.evaluate("""() => {
      const scrolls = node => { for (node = node.parentElement; node && node !== document.body; node = node.parentElement) {
        const overflow = getComputedStyle(node).overflowX; if (overflow === 'auto' || overflow === 'scroll') return true; }
        return false; };
      return [...document.body.querySelectorAll('*')]
        .filter(node => node.getClientRects().length && node.getBoundingClientRect().right > window.innerWidth + 0.5)
        .filter(node => !scrolls(node) && !node.closest('.skip-link'))
        .map(node => `${node.tagName.toLowerCase()}${node.id ? '#' + node.id : ''}${node.className && typeof node.className === 'string'
          ? '.' + node.className.trim().split(/\\s+/).join('.') : ''} (right edge ${Math.round(node.getBoundingClientRect().right)})`)
        .slice(0, 8);
    }""")


@pytest.mark.parametrize("stop", STOPS, ids=[stop.name for stop in STOPS])
def test_no_page_scrolls_sideways_on_a_phone(page, live_console, world, stop: Stop):
    page.set_viewport_size(PHONE)
    visit(page, live_console, world, stop)
    if stop.name in SCREENSHOTS:
        screenshot(page, SCREENSHOTS[stop.name])

    width = page.evaluate("({page: document.documentElement.scrollWidth, window: window.innerWidth,"
                          " overflow: [getComputedStyle(document.documentElement).overflowX,"
                          " getComputedStyle(document.body).overflowX]})")

    assert width["window"] == PHONE["width"]
    assert width["overflow"] == ["visible", "visible"], "sideways scrolling hidden, not avoided"
    assert width["page"] <= width["window"], f"{stop.name}: {width['page']} px wide: {wider_than_the_window(page)}"


@pytest.mark.parametrize("path", ["/projects/", "/settings/tokens/"])
def test_the_top_bar_fits_a_phone_with_every_link_and_log_out_visible(page, live_console, world, path):
    page.set_viewport_size(PHONE)
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(live_console + path)

    outside = page.evaluate("""() => [...document.querySelectorAll('.topbar a, .topbar button, .topbar .muted')]
      .filter(node => { const box = node.getBoundingClientRect(); return box.left < 0 || box.right > window.innerWidth; })
      .map(node => node.textContent.trim())""")
    clipped = page.evaluate("(bar => bar.scrollWidth > bar.clientWidth)(document.querySelector('.topbar'))")

    assert outside == []
    assert clipped is False


def test_a_wide_table_scrolls_inside_its_own_box_which_the_keyboard_can_reach_when_it_scrolls(page, live_console, world):
    page.set_viewport_size(PHONE)
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/models/iris/")

    box = page.evaluate("""() => { const table = document.querySelector('#builds');
      const box = table.closest('.table-scroll');
      return box && {scrolls: box.scrollWidth > box.clientWidth, overflow: getComputedStyle(box).overflowX,
                     fits: box.getBoundingClientRect().right <= window.innerWidth}; }""")

    focusable = page.evaluate("document.querySelector('#builds').closest('.table-scroll').getAttribute('tabindex')")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.wait_for_function("() => document.querySelector('#builds').closest('.table-scroll').getAttribute('tabindex') === null")

    assert box == {"scrolls": True, "overflow": "auto", "fits": True}
    assert focusable == "0", "the keyboard cannot scroll the table"

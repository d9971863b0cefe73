"""Accessibility (WCAG 2.1 AA, issue 12): axe-core on every page and state, the skip link, named navs and the
current tab, live regions, fields with errors tied to their messages, and the palette's contrast.

axe-core is vendored for tests only (tests/browser/vendor/README.md) and injected with `page.evaluate`,
which the page's Content-Security-Policy does not govern, so the pages are checked under their real policy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from deployments.models import Model, Project
from tests.browser.tour import STOPS, Stop, World, beside_playwright, make_world, visit
from tests.fixtures.browser import log_in
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture
def world(project: Project, iris_model: Model) -> World:
    return beside_playwright(make_world, project, iris_model)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    return page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(results => results.violations)")


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        more = f" (+{len(violation['nodes']) - 5} more)" if len(violation["nodes"]) > 5 else ""
        lines.append(f"{violation['impact']}: {violation['id']} at {targets}{more}: {violation['help']}")
        for node in violation["nodes"][:2]:
            lines.append(f"    {node['failureSummary'].splitlines()[-1].strip()}")
    return "\n".join(lines)


@pytest.mark.parametrize("stop", STOPS, ids=[stop.name for stop in STOPS])
def test_axe_finds_nothing_serious_on_the_page(page, live_console, world, stop: Stop):
    visit(page, live_console, world, stop)

    violations = axe_violations(page)

    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert blocking == [], f"{stop.name}: axe-core found\n{describe(blocking)}"


@pytest.mark.parametrize("stop", [stop for stop in STOPS if stop.form_errors],
                         ids=[stop.name for stop in STOPS if stop.form_errors])
def test_each_field_with_an_error_is_marked_invalid_and_described_by_its_message(page, live_console, world, stop):
    visit(page, live_console, world, stop)

    fields = page.evaluate("""() => [...document.querySelectorAll('[aria-invalid=true]')].map(field => ({
        name: field.name || field.id,
        error: (field.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)
            .map(id => document.getElementById(id)).filter(node => node && node.matches('.errorlist, .bad'))
            .map(node => node.textContent.trim()).join(' | '),
    }))""")
    unmarked = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(field => field.type !== 'hidden' && field.getAttribute('aria-invalid') !== 'true')
        .filter(field => { const box = field.closest('p, .field, td, form');
                           return box && box.querySelector('.errorlist li, .bad[role=alert]')
                                  && box.querySelectorAll('input:not([type=hidden]), select, textarea').length === 1; })
        .map(field => field.name || field.id)""")

    assert fields, f"{stop.name}: no field is marked aria-invalid"
    assert [f["name"] for f in fields if not f["error"]] == [], f"{stop.name}: not described by their error: {fields}"
    assert unmarked == [], f"{stop.name}: fields beside an error but not marked invalid"


def test_the_skip_link_comes_first_and_leads_past_the_top_bar(page, live_console, world):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/deployments/{world.deployment}/")

    page.keyboard.press("Tab")
    skip = page.evaluate("({text: document.activeElement.textContent.trim(), href: document.activeElement.href,"
                         " visible: document.activeElement.getBoundingClientRect().left >= 0})")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")

    assert skip == {"text": "Skip to content", "href": f"{live_console}/deployments/{world.deployment}/#content",
                    "visible": True}
    assert page.evaluate("document.querySelector('main').id") == "content"
    assert page.evaluate("document.activeElement.closest('main') !== null"), "Tab after the skip link left <main>"


def test_every_nav_is_named_and_the_current_tab_says_so(page, live_console, world):
    log_in(page, live_console, "alice", PASSWORD)
    for path, current in [(f"/deployments/{world.deployment}/events/", "Rollouts & events"),
                          (f"/deployments/{world.deployment}/", "Overview"),
                          ("/models/iris/deployments/", "Deployments"), ("/models/iris/", "Builds"),
                          ("/settings/tokens/", "API tokens")]:
        page.goto(live_console + path)

        unnamed = page.evaluate("[...document.querySelectorAll('nav')].filter(nav => !nav.getAttribute('aria-label')"
                                " && !nav.getAttribute('aria-labelledby')).map(nav => nav.outerHTML.slice(0, 80))")
        marked = page.evaluate("[...document.querySelectorAll('[aria-current=page]')].map(a => a.textContent.trim())")

        assert unnamed == [], path
        assert marked == [current], path


def test_the_status_badge_and_the_events_are_announced_when_they_change(page, live_console, world):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/deployments/{world.deployment}/events/")

    live = page.evaluate("""() => ['#deployment-status', '#event-list'].map(selector => {
        const region = document.querySelector(selector).closest('[aria-live]');
        return region && region.getAttribute('aria-live');
    })""")

    assert live == ["polite", "polite"]


# Contrast. Text is axe's color-contrast rule above; a field's border (non-text contrast, WCAG 1.4.11) is not.
CONTRAST = """
const rgba = text => { const m = text.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
const luminance = ([r, g, b]) => { const c = [r, g, b].map(v => v / 255)
  .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4); return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const backgroundOf = node => { for (; node; node = node.parentElement) { const colour = rgba(getComputedStyle(node).backgroundColor);
  if (colour[3] > 0) return colour; } return [255, 255, 255, 1]; };
"""


def with_contrast(body: str) -> str:
    """A function for page.evaluate: `body` with the contrast helpers above in scope."""
    return "() => {" + CONTRAST + body + "}"


def test_the_palette_keeps_text_at_4_5_to_1_and_field_borders_at_3_to_1(page, live_console):
    page.goto(f"{live_console}/login/")

    ratios = page.evaluate(with_contrast("""
    const probe = document.body.appendChild(document.createElement('span'));
    const colour = name => { probe.style.color = `var(${name})`; return rgba(getComputedStyle(probe).color); };
    const pairs = [['--fg', '--bg'], ['--muted', '--bg'], ['--muted', '--surface'], ['--muted', '--badge-bg'],
      ['--accent', '--bg'], ['--accent', '--surface'], ['--accent', '--note-bg'], ['--on-accent', '--accent'],
      ['--ok', '--ok-bg'], ['--bad', '--bad-bg'], ['--warn', '--warn-bg'], ['--on-accent', '--bad'],
      ['--topbar-muted', '--topbar-bg'], ['--topbar-fg', '--topbar-bg'],
      ['--field-border', '--surface'], ['--field-border', '--bg']];
    const result = Object.fromEntries(pairs.map(([fg, bg]) => [`${fg} on ${bg}`, ratio(colour(fg), colour(bg))]));
    probe.remove();
    return result;"""))

    too_low = {pair: round(value, 2) for pair, value in ratios.items()
               if value < (3 if pair.startswith("--field-border") else 4.5)}
    assert len(ratios) == 16
    assert too_low == {}


@pytest.mark.parametrize("stop", [stop for stop in STOPS if re.search(r"errors|configure|login$|tokens-new", stop.name)],
                         ids=[stop.name for stop in STOPS if re.search(r"errors|configure|login$|tokens-new", stop.name)])
def test_every_field_border_stands_out_3_to_1_from_its_background(page, live_console, world, stop):
    visit(page, live_console, world, stop)

    faint = page.evaluate(with_contrast("""
    return [...document.querySelectorAll('input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea')]
      .filter(field => field.getClientRects().length > 0)
      .map(field => [field.name || field.id,
                     ratio(rgba(getComputedStyle(field).borderTopColor), backgroundOf(field.parentElement))])
      .filter(([, value]) => value < 3).map(([name, value]) => `${name}: ${value.toFixed(2)}:1`);"""))
    fields = page.locator("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea")

    assert fields.count() > 0
    assert faint == []


PHONE_STOPS = [stop for stop in STOPS if stop.name in {"model-builds", "deployment-events", "tokens-new-secret",
                                                       "deploy-review-schema-change", "project"}]


@pytest.mark.parametrize("stop", PHONE_STOPS, ids=[stop.name for stop in PHONE_STOPS])
def test_axe_finds_nothing_serious_on_a_phone_where_tables_scroll_in_their_box(page, live_console, world, stop):
    page.set_viewport_size({"width": 390, "height": 844})
    visit(page, live_console, world, stop)

    violations = axe_violations(page)

    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert blocking == [], f"{stop.name} at 390 px: axe-core found\n{describe(blocking)}"

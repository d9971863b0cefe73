"""Settings → API tokens in the browser: create with an expiry, copy the secret once, reload, revoke after confirming."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from console.models import ApiToken
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_a_new_token_is_copied_with_its_button_and_a_reload_neither_shows_it_nor_makes_another(
    page, live_console, alice
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_console)
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/settings/tokens/")

    page.fill("input[name=name]", "laptop CLI")
    page.select_option("select[name=expires]", "7d")
    page.click("button:has-text('Create token')")
    secret = page.inner_text("#new-token-value")
    page.click("button:has-text('Copy token')")
    screenshot(page, "tokens-created")

    assert clipboard(page) == secret
    assert page.inner_text("button[data-copy=new-token-value]") == "Copied"
    page.click("button:has-text('Copy these lines')")
    assert clipboard(page) == f"export BERTH_URL={live_console}\nexport BERTH_TOKEN={secret}"
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert secret not in page.content()
    assert ApiToken.objects.filter(user=alice).count() == 1
    assert page.locator("#tokens tbody tr").count() == 1
    assert page.inner_text("#tokens tbody tr .expires") != "never"


def test_revoking_asks_first_naming_the_token(page, live_console, alice):
    token, _ = ApiToken.issue(alice, "nightly CI")
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/settings/tokens/")

    page.click(f"#token-{token.pk} >> text=Revoke…")
    screenshot(page, "tokens-revoke-confirm")
    assert page.inner_text("h1") == "Revoke token nightly CI?"
    token.refresh_from_db()
    assert token.is_active

    page.click("button:has-text('Revoke nightly CI')")
    page.wait_for_url(f"{live_console}/settings/tokens/")
    assert page.get_attribute(f"#token-{token.pk}", "data-status") == "revoked"
    token.refresh_from_db()
    assert not token.is_active


def test_copy_buttons_stay_hidden_without_javascript(browser, live_console, alice):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_console, "alice", PASSWORD)
        page.goto(f"{live_console}/settings/tokens/")
        page.fill("input[name=name]", "ci")
        page.click("button:has-text('Create token')")

        assert page.locator("#new-token-value").is_visible()
        assert page.locator("button[data-copy]").count() == 0
    finally:
        context.close()

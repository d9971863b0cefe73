"""A project's Endpoint keys in the browser: found from the project, created with an expiry, copied
once, gone on reload, revoked after confirming; a viewer sees names only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from deployments.models import EndpointKey
from deployments.models.endpoint_key import hash_key
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_a_deployer_creates_a_key_copies_it_once_and_a_reload_does_not_show_it(page, live_console, project, deployer):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_console)
    log_in(page, live_console, deployer.username, PASSWORD)
    page.goto(f"{live_console}/projects/{project.slug}/")
    page.click("#endpoint-keys-link")

    page.fill("input[name=name]", "billing service")
    page.select_option("select[name=expires]", "30d")
    page.click("button:has-text('Create key')")
    secret = page.inner_text("#new-key-value")
    page.click("button:has-text('Copy key')")
    screenshot(page, "endpoint-keys-created")

    assert clipboard(page) == secret
    assert EndpointKey.objects.get(project=project).key_hash == hash_key(secret)
    page.click("button:has-text('Copy this line')")
    assert clipboard(page) == f"export BERTH_ENDPOINT_KEY={secret}"
    page.reload()
    assert page.locator("#new-key").count() == 0
    assert secret not in page.content()
    assert page.locator("#endpoint-keys tbody tr").count() == 1
    assert page.inner_text("#endpoint-keys tbody tr .expires") != "never"


def test_revoking_asks_first_then_marks_the_key_revoked(page, live_console, project, deployer):
    key, _ = EndpointKey.issue(project, "nightly batch", deployer)
    log_in(page, live_console, deployer.username, PASSWORD)
    page.goto(f"{live_console}/projects/{project.slug}/keys/")

    page.click(f"#key-{key.pk} >> text=Revoke…")
    screenshot(page, "endpoint-keys-revoke-confirm")
    assert page.inner_text("h1") == "Revoke endpoint key nightly batch?"
    key.refresh_from_db()
    assert key.revoked_at is None

    page.click("button:has-text('Revoke nightly batch')")
    page.wait_for_url(f"{live_console}/projects/{project.slug}/keys/")
    assert page.get_attribute(f"#key-{key.pk}", "data-status") == "revoked"
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_viewer_sees_the_keys_names_but_cannot_create_or_revoke(page, live_console, project, deployer, bob):
    key, _ = EndpointKey.issue(project, "billing service", deployer)
    log_in(page, live_console, bob.username, PASSWORD)
    page.goto(f"{live_console}/projects/{project.slug}/keys/")

    assert page.inner_text(f"#key-{key.pk}").startswith("billing service")
    assert page.locator("#create-key").count() == 0
    assert page.locator("text=Revoke…").count() == 0
    assert key.prefix not in page.content()

"""An admin invites a colleague by email; the colleague finds the invitation on their Projects page and joins."""

from __future__ import annotations

import pytest

from deployments.models import Role
from tests.fixtures.browser import log_in, screenshot
from tests.fixtures.people import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_invited_colleague_joins_by_accepting_on_their_projects_page(
    browser, page, live_console, project, alice, charlie
):
    log_in(page, live_console, "alice", PASSWORD)
    page.goto(f"{live_console}/projects/fraud/")
    page.fill("input[name=invitee]", "charlie@example.com")
    page.select_option("#id_role", "deployer")
    page.click("button:has-text('Send invitation')")
    assert "Invitation sent to charlie@example.com." in page.locator(".messages").inner_text()
    assert page.locator("text=Pending invitations").is_visible()
    screenshot(page, "project-invitations")
    assert project.role_of(charlie) is None

    colleague = browser.new_context().new_page()
    log_in(colleague, live_console, "charlie", PASSWORD)
    invitations = colleague.locator("#invitations")
    assert "Fraud team" in invitations.inner_text()
    screenshot(colleague, "invitations-for-you")
    invitations.locator("button:has-text('Accept')").click()
    colleague.wait_for_url(f"{live_console}/projects/fraud/")

    assert "You joined Fraud team as deployer." in colleague.locator(".messages").inner_text()
    assert project.role_of(charlie) == Role.DEPLOYER
    colleague.context.close()

"""The project's Endpoint keys page: shown once, deployers create and revoke, viewers see names, outsiders 404."""

from __future__ import annotations

import re

import pytest

from deployments.models import EndpointKey
from deployments.models.endpoint_key import hash_key
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db
PAGE = "/projects/fraud/keys/"


def test_a_created_key_is_shown_once_and_stored_only_as_its_hash(deployer):
    client = logged_in(deployer)

    created = client.post(PAGE, {"name": "billing", "expires": "30d"}, follow=True)
    shown = re.search(r"(bek_[A-Za-z0-9_-]{40,})", created.content.decode())
    assert shown is not None
    assert EndpointKey.objects.get().key_hash == hash_key(shown.group(1))
    assert f"export BERTH_ENDPOINT_KEY={shown.group(1)}" in created.content.decode()
    again = client.get(PAGE)
    assert shown.group(1) not in again.content.decode()
    assert "billing" in again.content.decode()
    assert again["Cache-Control"].startswith("max-age=0")


def test_a_viewer_sees_names_but_no_form_prefix_or_revoke_link_and_cannot_post(project, deployer, bob):
    key, _ = EndpointKey.issue(project, "billing", deployer)
    page = logged_in(bob).get(PAGE)

    assert page.status_code == 200
    html = page.content.decode()
    assert "billing" in html
    assert key.prefix not in html
    assert "Revoke" not in html
    assert 'id="create-key"' not in html
    assert logged_in(bob).post(PAGE, {"name": "mine", "expires": "never"}).status_code == 403
    assert logged_in(bob).post(f"/projects/fraud/keys/{key.pk}/revoke/").status_code == 403
    assert EndpointKey.objects.count() == 1


def test_an_outsider_and_an_anonymous_visitor_are_refused(project, deployer, charlie, client):
    key, _ = EndpointKey.issue(project, "billing", deployer)

    assert logged_in(charlie).get(PAGE).status_code == 404
    assert logged_in(charlie).post(PAGE, {"name": "x", "expires": "never"}).status_code == 404
    assert logged_in(charlie).post(f"/projects/fraud/keys/{key.pk}/revoke/").status_code == 404
    assert client.get(PAGE).status_code == 302  # to the login page
    assert EndpointKey.objects.get().revoked_at is None


def test_revoking_asks_first_naming_the_key_then_marks_it_revoked(project, deployer):
    key, _ = EndpointKey.issue(project, "billing", deployer)
    client = logged_in(deployer)

    confirm = client.get(f"/projects/fraud/keys/{key.pk}/revoke/")
    assert "Revoke endpoint key billing?" in confirm.content.decode()
    assert EndpointKey.objects.get(pk=key.pk).revoked_at is None
    after = client.post(f"/projects/fraud/keys/{key.pk}/revoke/", follow=True)
    assert EndpointKey.objects.get(pk=key.pk).revoked_at is not None
    assert 'data-status="revoked"' in after.content.decode()


def test_a_blank_name_is_refused_with_the_form_saying_so(deployer):
    page = logged_in(deployer).post(PAGE, {"name": "  ", "expires": "never"})

    assert page.status_code == 200
    assert "This field is required" in page.content.decode()
    assert not EndpointKey.objects.exists()


def test_the_project_page_links_to_its_keys(project, bob):
    assert PAGE in logged_in(bob).get("/projects/fraud/").content.decode()

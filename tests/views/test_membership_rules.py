"""Membership rules are one rule each: the project pages and the API refuse the same things with the same words.

Each test sends the same request through the UI (a browser session) and the API (a token) and
compares what comes back with what deployments/projects/memberships.py says.
"""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import User

from deployments.models import Invitation, Membership, Project, Role
from deployments.projects.memberships import LAST_ADMIN
from tests.api.client import api_as
from tests.fixtures.people import PASSWORD, logged_in

pytestmark = pytest.mark.django_db

API = "/api/v1/projects/fraud/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def ui_invite(user: User, who: str, role: str) -> tuple[int, str]:
    response = logged_in(user).post("/projects/fraud/invite/", {"invitee": who, "role": role}, follow=True)
    return response.status_code, page_text(response)


def api_invite(user: User, who: str, role: str) -> tuple[int, str]:
    response = api_as(user).post(f"{API}invitations/", {"invitee": who, "role": role}, format="json")
    return response.status_code, response.json().get("detail", str(response.json()))


def ui_set_role(admin: User, member: Membership, role: str) -> tuple[int, str]:
    response = logged_in(admin).post(f"/projects/fraud/members/{member.pk}/role/", {"role": role}, follow=True)
    return response.status_code, page_text(response)


def api_set_role(admin: User, member: Membership, role: str) -> tuple[int, str]:
    response = api_as(admin).patch(f"{API}members/{member.pk}/", {"role": role}, format="json")
    return response.status_code, str(response.json())


@pytest.mark.parametrize("through", [ui_invite, api_invite])
def test_inviting_says_the_same_whether_or_not_the_account_exists(project, alice, charlie, through):
    _, known = through(alice, "charlie", "viewer")
    _, unknown = through(alice, "nobody", "viewer")

    sent = "Invitation sent to {}. If that names a Berth account, they join as viewer once they accept it"
    assert sent.format("charlie") in known
    assert sent.format("nobody") in unknown
    assert "No account" not in known + unknown
    assert project.role_of(charlie) is None


@pytest.mark.parametrize("through", [ui_invite, api_invite])
def test_an_admin_cannot_add_a_superuser_to_the_project(project, alice, through):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)

    through(alice, "root@example.com", "admin")

    assert not Membership.objects.filter(user__username="root").exists()
    assert Invitation.objects.filter(invitee="root@example.com").exists()


def test_the_invitee_sees_the_invitation_on_the_projects_page_and_joins_by_accepting(project, alice, charlie):
    ui_invite(alice, "charlie@EXAMPLE.com", "deployer")
    client = logged_in(charlie)

    listing = page_text(client.get("/projects/"))
    assert "Invitations for you" in listing
    assert "Fraud team" in listing
    accepted = client.post(f"/invitations/{Invitation.objects.get().pk}/accept/", follow=True)

    assert "You joined Fraud team as deployer." in page_text(accepted)
    assert project.role_of(charlie) == Role.DEPLOYER


def test_declining_on_the_page_leaves_the_invitee_outside(project, alice, charlie):
    ui_invite(alice, "charlie", "admin")

    logged_in(charlie).post(f"/invitations/{Invitation.objects.get().pk}/decline/")

    assert project.role_of(charlie) is None
    assert not Invitation.objects.exists()


def test_another_user_cannot_accept_an_invitation_on_the_page(project, alice, bob, charlie):
    ui_invite(alice, "charlie", "admin")

    response = logged_in(bob).post(f"/invitations/{Invitation.objects.get().pk}/accept/")

    assert response.status_code == 404
    assert project.role_of(bob) == Role.VIEWER
    assert project.role_of(charlie) is None


def test_an_admin_sees_and_revokes_pending_invitations_on_the_project_page(project, alice, charlie):
    ui_invite(alice, "charlie", "viewer")
    client = logged_in(alice)
    assert "Pending invitations" in page_text(client.get("/projects/fraud/"))

    revoked = client.post(f"/projects/fraud/invitations/{Invitation.objects.get().pk}/revoke/", follow=True)

    assert "Invitation to charlie revoked." in page_text(revoked)
    assert not Invitation.objects.exists()


def test_a_viewer_neither_sees_invitations_nor_invites_nor_revokes(project, alice, bob):
    ui_invite(alice, "someone", "viewer")
    client = logged_in(bob)

    assert "Pending invitations" not in page_text(client.get("/projects/fraud/"))
    assert client.post("/projects/fraud/invite/", {"invitee": "x", "role": "admin"}).status_code == 403
    assert client.post(f"/projects/fraud/invitations/{Invitation.objects.get().pk}/revoke/").status_code == 403
    assert list(Invitation.objects.values_list("invitee", flat=True)) == ["someone"]


@pytest.mark.parametrize("through", [ui_set_role, api_set_role])
def test_the_only_admin_cannot_step_down_to_a_lesser_role(project, alice, through):
    status, text = through(alice, Membership.objects.get(project=project, user=alice), "viewer")

    assert status in (200, 400)
    assert LAST_ADMIN in text
    assert project.role_of(alice) == Role.ADMIN


@pytest.mark.parametrize("through", [ui_set_role, api_set_role])
def test_an_admin_may_step_down_once_someone_else_is_admin(project, alice, bob, through):
    Membership.objects.filter(project=project, user=bob).update(role=Role.ADMIN)

    status, _ = through(alice, Membership.objects.get(project=project, user=alice), "deployer")

    assert status == 200
    assert project.role_of(alice) == Role.DEPLOYER


@pytest.mark.parametrize("through", [ui_set_role, api_set_role])
def test_an_admin_changes_a_members_role_directly(project, alice, bob, through):
    through(alice, Membership.objects.get(project=project, user=bob), "deployer")

    assert project.role_of(bob) == Role.DEPLOYER


def test_a_viewer_cannot_change_a_role_on_the_page(project, alice, bob):
    member = Membership.objects.get(project=project, user=bob)

    assert logged_in(bob).post(f"/projects/fraud/members/{member.pk}/role/", {"role": "admin"}).status_code == 403
    assert project.role_of(bob) == Role.VIEWER


def test_removing_the_last_admin_is_refused_with_the_same_words(project, alice):
    member = Membership.objects.get(project=project, user=alice)

    page = logged_in(alice).post(f"/projects/fraud/members/{member.pk}/remove/", follow=True)
    api = api_as(alice).delete(f"{API}members/{member.pk}/")

    assert LAST_ADMIN in page_text(page)
    assert api.status_code == 400
    assert api.json() == {"detail": LAST_ADMIN}
    assert project.role_of(alice) == Role.ADMIN


@pytest.mark.parametrize("through", ["ui", "api"])
def test_a_new_project_comes_with_its_creator_as_its_only_member_and_admin(charlie, through):
    fields = {"slug": "vision", "name": "Vision", "description": "Images"}
    if through == "ui":
        assert logged_in(charlie).post("/projects/new/", fields).status_code == 302
    else:
        assert api_as(charlie).post("/api/v1/projects/", fields, format="json").status_code == 201

    project = Project.objects.get(slug="vision")
    assert (project.name, project.description) == ("Vision", "Images")
    assert list(project.memberships.values_list("user__username", "role")) == [("charlie", Role.ADMIN)]

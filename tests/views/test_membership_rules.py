"""Membership rules are one rule each: the project pages and the API refuse the same things with the same words.

Each test sends the same request through the UI (alice's browser session) and the API
(alice's token) and compares the message with the one deployments/projects/memberships.py gives.
"""

from __future__ import annotations

import html

import pytest

from deployments.models import Membership, Project, Role
from deployments.projects.memberships import LAST_ADMIN
from tests.api.client import api_as
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

MEMBERS_API = "/api/v1/projects/fraud/members/"
UNKNOWN = "No account is called 'nobody'; ask a Berth administrator to create it (Django admin, /admin/)."


def ui_invite(user, who: str, role: str) -> tuple[int, str]:
    response = logged_in(user).post("/projects/fraud/invite/", {"user": who, "role": role})
    return response.status_code, html.unescape(response.content.decode())


def api_invite(user, who: str, role: str) -> tuple[int, str]:
    response = api_as(user).post(MEMBERS_API, {"username": who, "role": role}, format="json")
    return response.status_code, str(response.json())


def test_an_unknown_account_gets_the_same_answer_in_the_ui_and_the_api(project, alice):
    ui_status, page = ui_invite(alice, "nobody", "viewer")
    api_status, body = api_invite(alice, "nobody", "viewer")

    assert (ui_status, api_status) == (400, 400)
    assert UNKNOWN in page
    assert body == str({"username": [UNKNOWN]})
    assert project.memberships.count() == 2


@pytest.mark.parametrize("who", ["charlie@EXAMPLE.com", "  charlie  "])
def test_a_member_is_found_by_username_or_email_alike_in_the_ui_and_the_api(project, alice, charlie, who):
    assert ui_invite(alice, who, "viewer")[0] == 302
    assert project.role_of(charlie) == Role.VIEWER

    assert api_invite(alice, who, "deployer")[0] == 201
    assert project.role_of(charlie) == Role.DEPLOYER


@pytest.mark.parametrize("through", [ui_invite, api_invite])
def test_the_last_admin_cannot_step_down_to_a_lesser_role(project, alice, through):
    status, text = through(alice, "alice", "viewer")

    assert status == 400
    assert LAST_ADMIN in text
    assert project.role_of(alice) == Role.ADMIN


@pytest.mark.parametrize("through", [ui_invite, api_invite])
def test_an_admin_may_step_down_once_someone_else_is_admin(project, alice, bob, through):
    Membership.objects.filter(project=project, user=bob).update(role=Role.ADMIN)

    status, _ = through(alice, "alice", "deployer")

    assert status in (201, 302)
    assert project.role_of(alice) == Role.DEPLOYER


def test_removing_the_last_admin_is_refused_with_the_same_words(project, alice):
    member = Membership.objects.get(project=project, user=alice)

    page = logged_in(alice).post(f"/projects/fraud/members/{member.pk}/remove/", follow=True).content.decode()
    api = api_as(alice).delete(f"{MEMBERS_API}{member.pk}/")

    assert LAST_ADMIN in html.unescape(page)
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

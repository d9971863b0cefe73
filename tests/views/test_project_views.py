"""Project pages: list, create, detail, invite and remove members, for admin, viewer and outsider."""

from __future__ import annotations

import pytest
from django.test import Client

from deployments.models import Invitation, Membership, Model, Project, Role
from tests.fixtures.people import logged_in, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/projects/", "/projects/new/", "/projects/fraud/"])
def test_an_anonymous_visitor_is_sent_to_log_in(project, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("url", ["/projects/fraud/invite/", "/projects/fraud/members/1/remove/"])
def test_an_anonymous_post_changes_nothing(project, url):
    response = Client().post(url, {"invitee": "bob", "role": "admin"})

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert project.memberships.count() == 2


def test_the_home_page_leads_to_the_project_list(alice):
    assert logged_in(alice).get("/")["Location"] == "/projects/"


def test_the_project_list_shows_my_projects_my_role_and_model_count(iris_model, other_project, alice, bob):
    alice_page = logged_in(alice).get("/projects/").content.decode()
    bob_page = logged_in(bob).get("/projects/").content.decode()

    assert "Fraud team" in alice_page
    assert "admin" in alice_page
    assert "Growth team" not in alice_page
    assert "Fraud team" in bob_page
    assert "viewer" in bob_page


def test_an_outsider_does_not_see_the_project_in_the_list(project, other_project, charlie):
    page = logged_in(charlie).get("/projects/").content.decode()

    assert "Growth team" in page
    assert "Fraud team" not in page


def test_someone_in_no_project_is_told_how_to_get_one(charlie):
    page = logged_in(charlie).get("/projects/").content.decode()

    assert "not a member of any project" in page


def test_creating_a_project_makes_me_its_admin(charlie):
    response = logged_in(charlie).post("/projects/new/", {"slug": "vision", "name": "Vision", "description": ""})

    assert response.status_code == 302
    assert response["Location"] == "/projects/vision/"
    assert Project.objects.get(slug="vision").role_of(charlie) == Role.ADMIN


def test_a_project_with_a_bad_or_taken_slug_is_not_created(project, charlie):
    client = logged_in(charlie)

    bad = client.post("/projects/new/", {"slug": "Not A Slug", "name": "Bad"})
    taken = client.post("/projects/new/", {"slug": "fraud", "name": "Copy"})

    assert bad.status_code == 400
    assert "lowercase letters" in bad.content.decode()
    assert taken.status_code == 400
    assert "already exists" in taken.content.decode()
    assert list(Project.objects.values_list("slug", flat=True)) == ["fraud"]


def test_an_admin_sees_the_write_controls(iris_model, alice):
    page = logged_in(alice).get("/projects/fraud/").content.decode()

    assert "iris" in page
    assert "bob" in page
    assert 'href="/projects/fraud/models/new/"' in page
    assert 'action="/projects/fraud/invite/"' in page
    assert "/remove/" in page


def test_a_viewer_sees_models_and_members_but_no_write_controls(iris_model, bob):
    response = logged_in(bob).get("/projects/fraud/")
    page = response.content.decode()

    assert response.status_code == 200
    assert "iris" in page
    assert "alice" in page
    assert "you are viewer" in page
    assert "/models/new/" not in page
    assert "/invite/" not in page
    assert "/remove/" not in page


def test_an_outsider_gets_not_found(project, charlie):
    assert logged_in(charlie).get("/projects/fraud/").status_code == 404


def test_an_admin_invites_by_email_and_the_invitee_joins_only_on_accepting(project, alice, charlie):
    response = logged_in(alice).post("/projects/fraud/invite/", {"invitee": "charlie@example.com", "role": "deployer"},
                                     follow=True)

    assert "Invitation sent to charlie@example.com." in response.content.decode()
    assert project.role_of(charlie) is None
    logged_in(charlie).post(f"/invitations/{Invitation.objects.get().pk}/accept/")
    assert project.role_of(charlie) == Role.DEPLOYER


def test_an_empty_invitation_is_explained_and_sends_nothing(project, alice):
    response = logged_in(alice).post("/projects/fraud/invite/", {"invitee": "   ", "role": "viewer"})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_viewer_cannot_invite_or_remove(project, bob, alice, charlie):
    client = logged_in(bob)
    alice_membership = Membership.objects.get(project=project, user=alice)

    assert client.post("/projects/fraud/invite/", {"invitee": "charlie", "role": "admin"}).status_code == 403
    assert client.post(f"/projects/fraud/members/{alice_membership.pk}/remove/").status_code == 403
    assert project.role_of(charlie) is None
    assert project.role_of(alice) == Role.ADMIN


def test_an_outsider_cannot_invite_themselves_or_remove_anyone(project, charlie, bob):
    client = logged_in(charlie)
    bob_membership = Membership.objects.get(project=project, user=bob)

    assert client.post("/projects/fraud/invite/", {"invitee": "charlie", "role": "admin"}).status_code == 404
    assert client.post(f"/projects/fraud/members/{bob_membership.pk}/remove/").status_code == 404
    assert project.role_of(charlie) is None
    assert project.role_of(bob) == Role.VIEWER


def test_an_admin_removes_a_member_who_loses_access(project, alice, bob):
    membership = Membership.objects.get(project=project, user=bob)

    response = logged_in(alice).post(f"/projects/fraud/members/{membership.pk}/remove/", follow=True)

    assert "bob no longer has access" in response.content.decode()
    assert logged_in(bob).get("/projects/fraud/").status_code == 404


def test_the_last_admin_cannot_remove_themselves(project, alice):
    membership = Membership.objects.get(project=project, user=alice)

    response = logged_in(alice).post(f"/projects/fraud/members/{membership.pk}/remove/", follow=True)

    assert "at least one admin" in response.content.decode()
    assert project.role_of(alice) == Role.ADMIN


def test_removing_a_member_only_accepts_post(project, alice, bob):
    membership = Membership.objects.get(project=project, user=bob)

    assert logged_in(alice).get(f"/projects/fraud/members/{membership.pk}/remove/").status_code == 405
    assert project.role_of(bob) == Role.VIEWER


def test_the_project_pages_take_the_same_queries_for_one_or_many(project, alice, django_assert_max_num_queries):
    for n in range(10):
        other = Project.objects.create(slug=f"team-{n}", name=f"Team {n}")
        Membership.objects.create(project=other, user=alice, role=Role.ADMIN)
        Model.objects.create(project=project, model_id=f"model-{n}", name=f"Model {n}")
        Membership.objects.create(project=project, user=make_user(f"user{n}"), role=Role.VIEWER)
        Invitation.objects.create(project=other, invitee="alice", user=alice, invited_by=alice)
        Invitation.objects.create(project=project, invitee=f"guest{n}", invited_by=alice)
    client = logged_in(alice)

    with django_assert_max_num_queries(6):  # the invitations waiting for alice among them
        listing = client.get("/projects/")
    with django_assert_max_num_queries(8):  # the project's pending invitations and its storage among them
        detail = client.get("/projects/fraud/")

    assert listing.content.decode().count("/projects/team-") == 10
    assert detail.content.decode().count("/models/model-") == 10
    assert listing.content.decode().count("/accept/") == 10
    assert detail.content.decode().count("/revoke/") == 10

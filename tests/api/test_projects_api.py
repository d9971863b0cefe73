"""`/api/v1/projects/` and its members, for an admin (alice), a viewer (bob) and an outsider (charlie)."""

from __future__ import annotations

import pytest

from deployments.models import Membership, Project, Role
from tests.api.client import api_as, results

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"


def members_url(slug: str) -> str:
    return f"{PROJECTS}{slug}/members/"


def test_an_anonymous_caller_is_asked_for_a_token(project):
    response = api_as(None).get(PROJECTS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_member_lists_only_their_projects_with_their_role(project, other_project, alice, bob):
    assert [(p["slug"], p["role"]) for p in results(api_as(alice).get(PROJECTS))] == [("fraud", "admin")]
    assert [(p["slug"], p["role"]) for p in results(api_as(bob).get(PROJECTS))] == [("fraud", "viewer")]


def test_an_outsider_neither_sees_nor_reads_another_project(project, other_project, charlie):
    client = api_as(charlie)

    assert [p["slug"] for p in results(client.get(PROJECTS))] == ["growth"]
    assert client.get(f"{PROJECTS}fraud/").status_code == 404
    assert client.get(members_url("fraud")).status_code == 404


def test_an_outsider_cannot_rename_invite_into_or_delete_another_project(project, charlie):
    client = api_as(charlie)

    assert client.patch(f"{PROJECTS}fraud/", {"name": "Mine"}, format="json").status_code == 404
    assert client.post(members_url("fraud"), {"username": "charlie", "role": "admin"}, format="json").status_code == 404
    assert client.delete(f"{PROJECTS}fraud/").status_code == 404
    project.refresh_from_db()
    assert project.name == "Fraud team"
    assert not Membership.objects.filter(project=project, user=charlie).exists()


def test_anyone_with_a_token_creates_a_project_and_becomes_its_admin(charlie):
    response = api_as(charlie).post(PROJECTS, {"slug": "vision", "name": "Vision"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "vision"
    assert Project.objects.get(slug="vision").role_of(charlie) == Role.ADMIN


def test_an_invalid_slug_is_refused_naming_the_field(alice):
    response = api_as(alice).post(PROJECTS, {"slug": "Not A Slug!", "name": "Bad"}, format="json")

    assert response.status_code == 400
    assert "lowercase" in response.json()["slug"][0]
    assert not Project.objects.filter(name="Bad").exists()


def test_a_taken_slug_is_refused_naming_the_field(project, charlie):
    response = api_as(charlie).post(PROJECTS, {"slug": "fraud", "name": "Copycat"}, format="json")

    assert response.status_code == 400
    assert "slug" in response.json()
    assert not Project.objects.filter(name="Copycat").exists()


def test_a_viewer_reads_the_project_and_its_members(project, bob):
    client = api_as(bob)

    assert client.get(f"{PROJECTS}fraud/").json()["name"] == "Fraud team"
    assert sorted((m["user"], m["role"]) for m in client.get(members_url("fraud")).json()) == [
        ("alice", "admin"), ("bob", "viewer")]


def test_a_viewer_cannot_rename_the_project_or_invite(project, bob, charlie):
    client = api_as(bob)

    rename = client.patch(f"{PROJECTS}fraud/", {"name": "Bob's"}, format="json")
    invite = client.post(members_url("fraud"), {"username": "charlie", "role": "viewer"}, format="json")

    assert rename.status_code == 403
    assert "admin" in rename.json()["detail"]
    assert invite.status_code == 403
    project.refresh_from_db()
    assert project.name == "Fraud team"
    assert not Membership.objects.filter(user=charlie, project=project).exists()


def test_an_admin_renames_the_project(project, alice):
    response = api_as(alice).patch(f"{PROJECTS}fraud/", {"name": "Fraud & risk"}, format="json")

    assert response.status_code == 200
    project.refresh_from_db()
    assert project.name == "Fraud & risk"


def test_an_admin_invites_by_username_or_email_and_changes_a_role(project, alice, charlie, bob):
    client = api_as(alice)

    invited = client.post(members_url("fraud"), {"username": "charlie@example.com", "role": "deployer"},
                          format="json")
    promoted = client.post(members_url("fraud"), {"username": "bob", "role": "admin"}, format="json")

    assert invited.status_code == 201
    assert invited.json()["user"] == "charlie"
    assert promoted.status_code == 201
    assert project.role_of(charlie) == Role.DEPLOYER
    assert project.role_of(bob) == Role.ADMIN


def test_inviting_an_unknown_account_names_the_field(project, alice):
    response = api_as(alice).post(members_url("fraud"), {"username": "nobody", "role": "viewer"}, format="json")

    assert response.status_code == 400
    assert "nobody" in response.json()["username"][0]
    assert project.memberships.count() == 2


def test_inviting_with_an_unknown_role_names_the_field(project, alice, charlie):
    response = api_as(alice).post(members_url("fraud"), {"username": "charlie", "role": "owner"}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()
    assert project.role_of(charlie) is None


def test_an_admin_removes_a_member_who_then_loses_access(project, alice, bob):
    member = Membership.objects.get(project=project, user=bob)

    response = api_as(alice).delete(f"{members_url('fraud')}{member.pk}/")

    assert response.status_code == 204
    assert api_as(bob).get(f"{PROJECTS}fraud/").status_code == 404


def test_the_last_admin_cannot_be_removed(project, alice):
    member = Membership.objects.get(project=project, user=alice)

    response = api_as(alice).delete(f"{members_url('fraud')}{member.pk}/")

    assert response.status_code == 400
    assert "at least one admin" in str(response.json())
    assert project.role_of(alice) == Role.ADMIN


def test_a_viewer_cannot_remove_members(project, alice, bob):
    member = Membership.objects.get(project=project, user=alice)

    assert api_as(bob).delete(f"{members_url('fraud')}{member.pk}/").status_code == 403
    assert project.role_of(alice) == Role.ADMIN


def test_a_member_of_another_project_cannot_be_removed_through_this_one(project, other_project, alice, charlie):
    foreign = Membership.objects.get(project=other_project, user=charlie)

    assert api_as(alice).delete(f"{members_url('fraud')}{foreign.pk}/").status_code == 404
    assert other_project.role_of(charlie) == Role.ADMIN


def test_listing_projects_takes_the_same_queries_for_one_or_many(alice, django_assert_max_num_queries):
    for n in range(12):
        project = Project.objects.create(slug=f"team-{n}", name=f"Team {n}")
        Membership.objects.create(project=project, user=alice, role=Role.ADMIN)
    client = api_as(alice)

    with django_assert_max_num_queries(5):
        response = client.get(PROJECTS)

    assert len(results(response)) == 12


def test_listing_members_takes_the_same_queries_for_one_or_many(project, alice, django_assert_max_num_queries):
    from tests.fixtures.people import make_user

    for n in range(10):
        Membership.objects.create(project=project, user=make_user(f"user{n}"), role=Role.VIEWER)
    client = api_as(alice)

    with django_assert_max_num_queries(5):
        response = client.get(members_url("fraud"))

    assert len(response.json()) == 12

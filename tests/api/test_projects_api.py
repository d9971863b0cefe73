"""`/api/v1/projects/` and its members, for an admin (alice), a viewer (bob) and an outsider (charlie)."""

from __future__ import annotations

import pytest

from deployments.models import Membership, Project, Role
from deployments.projects.memberships import LAST_ADMIN
from tests.api.client import api_as, results
from tests.fixtures.deployments import a_ready_build, serving_deployment, undeployed_deployment, variation

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
    assert client.post(f"{PROJECTS}fraud/invitations/", {"invitee": "charlie", "role": "admin"},
                       format="json").status_code == 404
    assert client.delete(f"{PROJECTS}fraud/").status_code == 404
    project.refresh_from_db()
    assert project.name == "Fraud team"
    assert not Membership.objects.filter(project=project, user=charlie).exists()


def test_anyone_with_a_token_creates_a_project_and_becomes_its_admin(charlie):
    response = api_as(charlie).post(PROJECTS, {"slug": "vision", "name": "Vision"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "vision"
    assert response.json()["role"] == "admin"  # the creator's role, as a list shows it, not null
    assert Project.objects.get(slug="vision").role_of(charlie) == Role.ADMIN


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_blank_name_is_refused_as_the_schema_says(alice, name):
    response = api_as(alice).post(PROJECTS, {"slug": "vision", "name": name}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["This field may not be blank."]}
    assert not Project.objects.filter(slug="vision").exists()


def test_a_slug_with_a_trailing_newline_or_spaces_is_refused_not_trimmed(alice):
    client = api_as(alice)

    for slug in ["vision\n", " vision", "vision "]:
        response = client.post(PROJECTS, {"slug": slug, "name": "Vision"}, format="json")
        assert response.status_code == 400, slug
        assert "lowercase" in response.json()["slug"][0]
    assert not Project.objects.exists()


def test_a_value_of_the_wrong_json_type_is_refused_not_converted(alice):
    response = api_as(alice).post(PROJECTS, {"slug": "vision", "name": 5}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["Use text (a JSON string)."]}
    assert not Project.objects.exists()


def test_the_slug_cannot_change_but_a_read_answer_can_be_sent_back(project, alice):
    client = api_as(alice)
    read = client.get(f"{PROJECTS}fraud/").json()

    sent_back = client.put(f"{PROJECTS}fraud/", {**read, "name": "Fraud & risk"}, format="json")
    renamed = client.patch(f"{PROJECTS}fraud/", {"slug": "risk"}, format="json")

    assert sent_back.status_code == 200, sent_back.json()
    assert renamed.status_code == 400
    assert renamed.json() == {"slug": ["A project's slug cannot change."]}
    project.refresh_from_db()
    assert (project.slug, project.name) == ("fraud", "Fraud & risk")


def test_a_form_post_is_refused_the_api_takes_json(alice):
    response = api_as(alice).post(PROJECTS, {"slug": "vision", "name": "Vision"}, format="multipart")

    assert response.status_code == 415
    assert "detail" in response.json()
    assert not Project.objects.exists()


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
    assert sorted((m["user"], m["role"]) for m in results(client.get(members_url("fraud")))) == [
        ("alice", "admin"), ("bob", "viewer")]


def test_a_viewer_cannot_rename_the_project_or_invite(project, bob, charlie):
    client = api_as(bob)

    rename = client.patch(f"{PROJECTS}fraud/", {"name": "Bob's"}, format="json")
    invite = client.post(f"{PROJECTS}fraud/invitations/", {"invitee": "charlie", "role": "viewer"}, format="json")

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


def test_an_admin_removes_a_member_who_then_loses_access(project, alice, bob):
    member = Membership.objects.get(project=project, user=bob)

    response = api_as(alice).delete(f"{members_url('fraud')}{member.pk}/")

    assert response.status_code == 204
    assert api_as(bob).get(f"{PROJECTS}fraud/").status_code == 404


def test_the_last_admin_cannot_be_removed(project, alice):
    member = Membership.objects.get(project=project, user=alice)

    response = api_as(alice).delete(f"{members_url('fraud')}{member.pk}/")

    assert response.status_code == 400
    assert response.json() == {"detail": LAST_ADMIN}  # an error of no single field: `detail`, as the docs say
    assert project.role_of(alice) == Role.ADMIN


@pytest.mark.parametrize("member_id", ["abc", "1.5", "99999999999999999999999"])
def test_a_member_id_that_is_no_number_is_not_found_in_json(project, alice, member_id):
    response = api_as(alice).delete(f"{members_url('fraud')}{member_id}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


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

    with django_assert_max_num_queries(6):  # the page's count among them
        response = client.get(members_url("fraud"))

    assert len(results(response)) == 12


def test_a_project_holding_a_deployed_model_is_not_deleted_and_the_answer_names_the_deployment(iris_model, alice):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)))

    response = api_as(alice).delete(f"{PROJECTS}fraud/")

    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"Project fraud is still deployed: iris in production (deployment {deployment.pk}). Undeploy first")
    assert Project.objects.filter(slug="fraud").exists()


def test_a_project_whose_deployments_are_stopped_is_deleted(iris_model, alice):
    undeployed_deployment(iris_model, variation(a_ready_build(iris_model)))

    assert api_as(alice).delete(f"{PROJECTS}fraud/").status_code == 204
    assert not Project.objects.filter(slug="fraud").exists()

"""Joining a project by invitation over the API: alice (admin) invites, the invitee answers, bob (viewer) and
charlie (outsider) cannot do what is not theirs.

The hostile requests first: inviting must not tell whether an account exists, and must not make anyone a
member (least of all a superuser) before they accept.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from deployments.models import Invitation, Membership, Role
from deployments.projects.memberships import LAST_ADMIN
from tests.api.client import api_as, results
from tests.fixtures.people import PASSWORD, make_user

pytestmark = pytest.mark.django_db

INVITATIONS = "/api/v1/projects/fraud/invitations/"
MINE = "/api/v1/invitations/"
MEMBERS = "/api/v1/projects/fraud/members/"


def invite(user: User, who: str, role: str = "viewer"):
    return api_as(user).post(INVITATIONS, {"invitee": who, "role": role}, format="json")


def test_inviting_answers_the_same_whether_or_not_the_account_exists(project, alice, charlie):
    known = invite(alice, "charlie@example.com")
    unknown = invite(alice, "nobody@example.com")

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == {"detail": unknown.json()["detail"].replace("nobody@", "charlie@")}
    assert "Invitation sent to charlie@example.com." in known.json()["detail"]
    listed = results(api_as(alice).get(INVITATIONS))
    assert [{k: v for k, v in row.items() if k not in ("id", "created_at", "invitee")} for row in listed] == [
        {"role": "viewer", "invited_by": "alice"}] * 2  # no row says which one names an account


def test_an_invitation_makes_nobody_a_member_until_they_accept(project, alice, charlie):
    invite(alice, "charlie", "deployer")
    assert project.role_of(charlie) is None
    assert api_as(charlie).get("/api/v1/projects/fraud/").status_code == 404

    [waiting] = results(api_as(charlie).get(MINE))
    assert (waiting["project"], waiting["project_name"], waiting["role"], waiting["invited_by"]) == (
        "fraud", "Fraud team", "deployer", "alice")
    accepted = api_as(charlie).post(f"{MINE}{waiting['id']}/accept/")

    assert accepted.status_code == 200
    assert accepted.json()["project"] == "fraud"
    assert accepted.json()["role"] == "deployer"
    assert project.role_of(charlie) == Role.DEPLOYER
    assert results(api_as(charlie).get(MINE)) == []
    assert not Invitation.objects.exists()


def test_a_superuser_is_not_pulled_into_a_project_by_its_admin(project, alice):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)

    assert invite(alice, "root", "admin").status_code == 202

    assert not Membership.objects.filter(user__username="root").exists()


def test_declining_leaves_the_invitee_outside_and_the_invitation_gone(project, alice, charlie):
    invite(alice, "charlie")
    [waiting] = results(api_as(charlie).get(MINE))

    assert api_as(charlie).post(f"{MINE}{waiting['id']}/decline/").status_code == 204

    assert project.role_of(charlie) is None
    assert not Invitation.objects.exists()


def test_nobody_but_the_invitee_can_accept_or_even_see_an_invitation(project, alice, bob, charlie):
    invite(alice, "charlie", "admin")
    invitation = Invitation.objects.get()

    for other in (alice, bob, make_user("mallory")):
        assert results(api_as(other).get(MINE)) == []
        refused = api_as(other).post(f"{MINE}{invitation.pk}/accept/")
        assert refused.status_code == 404
        assert refused.json() == {"detail": "No such invitation."}
    assert project.role_of(bob) == Role.VIEWER
    assert not Membership.objects.filter(user__username="mallory").exists()


def test_an_account_made_after_the_invitation_does_not_receive_it(project, alice):
    invite(alice, "eve@example.com")
    eve = make_user("eve")

    assert results(api_as(eve).get(MINE)) == []
    assert project.role_of(eve) is None


def test_an_admin_lists_and_revokes_an_invitation_which_then_cannot_be_accepted(project, alice, charlie):
    invite(alice, "charlie")
    [listed] = results(api_as(alice).get(INVITATIONS))

    assert api_as(alice).delete(f"{INVITATIONS}{listed['id']}/").status_code == 204

    assert results(api_as(alice).get(INVITATIONS)) == []
    assert api_as(charlie).post(f"{MINE}{listed['id']}/accept/").status_code == 404
    assert project.role_of(charlie) is None


def test_inviting_again_changes_the_role_offered(project, alice, charlie):
    invite(alice, "charlie", "viewer")
    invite(alice, "charlie", "admin")

    assert list(Invitation.objects.values_list("invitee", "role")) == [("charlie", "admin")]


def test_accepting_never_lowers_the_role_a_member_already_has(project, alice, bob):
    Membership.objects.filter(project=project, user=bob).update(role=Role.DEPLOYER)
    invite(alice, "bob", "viewer")

    api_as(bob).post(f"{MINE}{Invitation.objects.get().pk}/accept/")

    assert project.role_of(bob) == Role.DEPLOYER


def test_a_viewer_can_neither_invite_nor_see_nor_revoke_invitations(project, alice, bob, charlie):
    invite(alice, "someone")
    pk = Invitation.objects.get().pk
    client = api_as(bob)

    assert client.post(INVITATIONS, {"invitee": "charlie", "role": "admin"}, format="json").status_code == 403
    assert client.get(INVITATIONS).status_code == 403
    assert client.delete(f"{INVITATIONS}{pk}/").status_code == 403
    assert list(Invitation.objects.values_list("invitee", flat=True)) == ["someone"]


def test_an_outsider_can_neither_invite_nor_revoke(project, other_project, alice, charlie):
    invite(alice, "someone")
    pk = Invitation.objects.get().pk
    client = api_as(charlie)

    assert client.post(INVITATIONS, {"invitee": "charlie", "role": "admin"}, format="json").status_code == 404
    assert client.get(INVITATIONS).status_code == 404
    assert client.delete(f"{INVITATIONS}{pk}/").status_code == 404
    assert client.delete(f"/api/v1/projects/growth/invitations/{pk}/").status_code == 404  # through his own
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"invitee": "   ", "role": "viewer"}, "invitee"),
    ({"invitee": "charlie", "role": "owner"}, "role"),
    ({"role": "viewer"}, "invitee"),
])
def test_a_bad_invitation_names_its_field_and_sends_nothing(project, alice, body, field):
    response = api_as(alice).post(INVITATIONS, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Invitation.objects.exists()


def test_members_are_no_longer_added_directly(project, alice, charlie):
    response = api_as(alice).post(MEMBERS, {"username": "charlie", "role": "admin"}, format="json")

    assert response.status_code == 405
    assert project.role_of(charlie) is None


def test_an_admin_changes_a_members_role(project, alice, bob):
    member = Membership.objects.get(project=project, user=bob)

    response = api_as(alice).patch(f"{MEMBERS}{member.pk}/", {"role": "admin"}, format="json")

    assert response.status_code == 200
    assert (response.json()["user"], response.json()["role"]) == ("bob", "admin")
    assert project.role_of(bob) == Role.ADMIN


def test_the_only_admin_cannot_step_down(project, alice):
    member = Membership.objects.get(project=project, user=alice)

    response = api_as(alice).patch(f"{MEMBERS}{member.pk}/", {"role": "viewer"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": LAST_ADMIN}
    assert project.role_of(alice) == Role.ADMIN


def test_an_admin_whose_account_is_deactivated_does_not_count_as_another_admin(project, alice, bob):
    Membership.objects.filter(project=project, user=bob).update(role=Role.ADMIN)
    User.objects.filter(pk=bob.pk).update(is_active=False)
    member = Membership.objects.get(project=project, user=alice)

    demoted = api_as(alice).patch(f"{MEMBERS}{member.pk}/", {"role": "viewer"}, format="json")
    removed = api_as(alice).delete(f"{MEMBERS}{member.pk}/")

    assert (demoted.status_code, removed.status_code) == (400, 400)
    assert project.role_of(alice) == Role.ADMIN


def test_a_viewer_cannot_change_roles(project, alice, bob):
    member = Membership.objects.get(project=project, user=bob)

    assert api_as(bob).patch(f"{MEMBERS}{member.pk}/", {"role": "admin"}, format="json").status_code == 403
    assert project.role_of(bob) == Role.VIEWER


@pytest.mark.parametrize("pk", ["abc", "1.5", "99999999999999999999999", "%1B%C2%B8.G%0A%C3%8E"])
def test_an_invitation_id_that_is_no_number_is_not_found_in_json(project, charlie, pk):
    for answer in ("accept", "decline"):
        response = api_as(charlie).post(f"{MINE}{pk}/{answer}/")

        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()


def test_listing_invitations_takes_the_same_queries_for_one_or_many(project, other_project, alice, charlie,
                                                                    django_assert_max_num_queries):
    for n in range(10):
        invite(alice, f"guest{n}")
    Invitation.objects.create(project=other_project, invitee="alice", user=alice, invited_by=charlie)
    Invitation.objects.create(project=project, invitee="alice2", user=alice, invited_by=alice)
    client = api_as(alice)

    with django_assert_max_num_queries(6):  # the page's count among them
        theirs = client.get(INVITATIONS)
    with django_assert_max_num_queries(5):
        mine = client.get(MINE)

    assert len(results(theirs)) == 11
    assert len(results(mine)) == 2

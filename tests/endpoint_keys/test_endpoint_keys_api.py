"""Endpoint keys over the REST API: deployers create and revoke, viewers see names, outsiders nothing."""

from __future__ import annotations

import pytest
from django.db import connection

from deployments.models import EndpointKey
from deployments.models.endpoint_key import hash_key
from tests.api.client import api_as

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/fraud/endpoint-keys/"


def test_a_deployer_creates_a_key_shown_once_and_stored_only_as_its_hash(deployer):
    created = api_as(deployer).post(URL, {"name": "billing service", "expires_in": "30d"}, format="json")

    assert created.status_code == 201, created.json()
    raw = created.json()["key"]
    assert raw.startswith("bek_")
    assert len(raw) > 40
    assert created.json()["expires_at"] is not None
    stored = EndpointKey.objects.get()
    assert stored.key_hash == hash_key(raw)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM deployments_endpointkey")
        row = cursor.fetchone()
    assert raw not in repr(row)
    listed = api_as(deployer).get(URL).json()["results"]
    assert [(k["name"], k["status"], k["created_by"]) for k in listed] == [("billing service", "active", "dave")]
    assert "key" not in listed[0]
    assert raw not in str(api_as(deployer).get(URL).content)


def test_a_viewer_sees_names_and_status_only_and_cannot_create_or_revoke(project, deployer, bob):
    created = api_as(deployer).post(URL, {"name": "billing"}, format="json").json()

    listed = api_as(bob).get(URL).json()["results"]
    assert [(k["name"], k["status"], k["prefix"], k["created_by"]) for k in listed] == [("billing", "active", None, None)]
    assert api_as(bob).post(URL, {"name": "mine"}, format="json").status_code == 403
    assert api_as(bob).delete(f"{URL}{created['id']}/").status_code == 403
    assert EndpointKey.objects.get().revoked_at is None


def test_an_outsider_gets_404_for_the_list_creating_and_revoking(project, deployer, charlie):
    created = api_as(deployer).post(URL, {"name": "billing"}, format="json").json()

    assert api_as(charlie).get(URL).status_code == 404
    assert api_as(charlie).post(URL, {"name": "mine"}, format="json").status_code == 404
    assert api_as(charlie).delete(f"{URL}{created['id']}/").status_code == 404
    assert EndpointKey.objects.get().revoked_at is None


def test_anonymous_callers_get_401(project):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401
    assert APIClient().post(URL, {"name": "x"}, format="json").status_code == 401


def test_a_key_of_another_project_cannot_be_revoked_through_this_one(deployer, other_project, charlie):
    theirs = api_as(charlie).post("/api/v1/projects/growth/endpoint-keys/", {"name": "theirs"}, format="json").json()

    assert api_as(deployer).delete(f"{URL}{theirs['id']}/").status_code == 404
    assert EndpointKey.objects.get().revoked_at is None


def test_revoking_marks_the_key_revoked_and_keeps_it_listed(project, alice):
    created = api_as(alice).post(URL, {"name": "old"}, format="json").json()

    assert api_as(alice).delete(f"{URL}{created['id']}/").status_code == 204
    assert api_as(alice).delete(f"{URL}{created['id']}/").status_code == 204  # again: nothing changes
    listed = api_as(alice).get(URL).json()["results"]
    assert [(k["name"], k["status"]) for k in listed] == [("old", "revoked")]


def test_bad_input_is_refused_naming_the_field(deployer):
    client = api_as(deployer)

    assert client.post(URL, {"name": ""}, format="json").json().keys() == {"name"}
    assert client.post(URL, {"name": "x", "expires_in": "forever"}, format="json").json().keys() == {"expires_in"}
    assert client.post(URL, {"name": 5}, format="json").status_code == 400
    chosen = client.post(URL, {"name": "x", "key": "bek_mine"}, format="json")  # a caller can't pick the value
    assert chosen.status_code == 201
    assert chosen.json()["key"] != "bek_mine"
    assert not EndpointKey.objects.filter(key_hash=hash_key("bek_mine")).exists()


def test_the_list_and_the_page_cost_the_same_queries_for_one_key_or_ten(project, deployer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.fixtures.people import logged_in

    client, page = api_as(deployer), logged_in(deployer)

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as api_queries:
            assert client.get(URL).status_code == 200
        with CaptureQueriesContext(connection) as page_queries:
            assert page.get("/projects/fraud/keys/").status_code == 200
        return len(api_queries), len(page_queries)

    EndpointKey.issue(project, "first", deployer)
    queries()  # the token's first use writes its last_used_at (once a minute): not a per-key cost
    one = queries()
    for n in range(9):
        EndpointKey.issue(project, f"key {n}", deployer)
    assert queries() == one

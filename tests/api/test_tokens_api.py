"""`/api/v1/tokens/`, bearer authentication itself, and the OpenAPI schema and docs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console.models import ApiToken, hash_token
from tests.api.client import api_as, results
from tests.fixtures.people import logged_in, token_for

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens/"


def bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_an_anonymous_caller_cannot_list_or_create_tokens():
    client = api_as(None)

    assert client.get(TOKENS).status_code == 401
    assert client.post(TOKENS, {"name": "ci"}, format="json").status_code == 401
    assert not ApiToken.objects.exists()


def test_a_new_token_is_answered_once_and_stored_only_as_a_hash(alice):
    response = api_as(alice).post(TOKENS, {"name": "laptop"}, format="json")

    assert response.status_code == 201
    raw = response.json()["token"]
    stored = ApiToken.objects.get(name="laptop")
    assert raw.startswith("berth_")
    assert stored.token_hash == hash_token(raw)
    assert not ApiToken.objects.filter(token_hash=raw).exists()
    assert raw not in str(stored.__dict__)
    assert all("token" not in row for row in results(api_as(alice).get(TOKENS)))


def test_a_new_token_works_for_the_api(alice):
    raw = api_as(alice).post(TOKENS, {"name": "ci"}, format="json").json()["token"]

    assert bearer(raw).get("/api/v1/projects/").status_code == 200
    assert ApiToken.objects.get(name="ci").last_used_at is not None


def test_a_token_needs_a_name(alice):
    response = api_as(alice).post(TOKENS, {"name": ""}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_people_see_only_their_own_tokens(alice, bob):
    ApiToken.issue(alice, "alice laptop")
    ApiToken.issue(bob, "bob laptop")

    names = {row["name"] for row in results(api_as(bob).get(TOKENS))}

    assert "alice laptop" not in names
    assert "bob laptop" in names


def test_a_revoked_token_is_refused_with_a_hint(alice):
    raw = token_for(alice)
    token = ApiToken.objects.get(token_hash=hash_token(raw))

    assert bearer(raw).delete(f"{TOKENS}{token.pk}/").status_code == 204
    response = bearer(raw).get("/api/v1/projects/")

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_someone_elses_token_cannot_be_revoked(alice, charlie):
    raw = token_for(alice)
    token = ApiToken.objects.get(token_hash=hash_token(raw))

    assert api_as(charlie).delete(f"{TOKENS}{token.pk}/").status_code == 404
    assert bearer(raw).get("/api/v1/projects/").status_code == 200


def test_an_unknown_token_or_a_malformed_header_is_refused(alice):
    assert bearer("berth_made-up").get("/api/v1/projects/").status_code == 401
    malformed = Client(HTTP_AUTHORIZATION="Bearer two words").get("/api/v1/projects/")
    assert malformed.status_code == 401
    assert "Authorization: Bearer" in malformed.json()["detail"]


def test_a_deactivated_accounts_token_is_refused(alice):
    raw = token_for(alice)
    alice.is_active = False
    alice.save()

    assert bearer(raw).get("/api/v1/projects/").status_code == 401


def test_the_browser_session_also_authenticates_the_api(project, alice):
    assert logged_in(alice).get("/api/v1/projects/").status_code == 200


def test_listing_tokens_takes_the_same_queries_for_one_or_many(alice, django_assert_max_num_queries):
    for n in range(10):
        ApiToken.issue(alice, f"token {n}")
    client = api_as(alice)

    with django_assert_max_num_queries(4):
        response = client.get(TOKENS)

    assert len(results(response)) == 11


# --- OpenAPI --------------------------------------------------------------------------------

def test_the_openapi_schema_describes_the_api_to_an_authenticated_caller(alice):
    response = api_as(alice).get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/projects/", "/api/v1/models/{model_id}/builds/", "/api/v1/builds/{build_id}/",
            "/api/v1/tokens/"} <= set(schema["paths"])
    scheme = schema["components"]["securitySchemes"]["bearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"bearerToken": []} in schema["paths"]["/api/v1/models/"]["get"]["security"]


def test_the_openapi_schema_is_not_served_to_anonymous_callers():
    assert api_as(None).get("/api/schema/").status_code in (401, 403)


def test_the_api_docs_render_from_local_assets_only(alice):
    response = logged_in(alice).get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
    urls += re.findall(r'["\'](https?://[^"\']+)["\']', html)
    assert any(url.endswith(".js") for url in urls), html
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by Berth itself"
        assert not url.startswith("//"), f"{url} is not served by Berth itself"


def test_a_token_made_through_the_api_can_expire_and_says_when(alice):
    made = api_as(alice).post(TOKENS, {"name": "ci", "expires_in": "24h"}, format="json")
    lasting = api_as(alice).post(TOKENS, {"name": "laptop"}, format="json")

    assert made.status_code == 201, made.json()
    expires = ApiToken.objects.get(pk=made.json()["id"]).expires_at
    assert expires is not None
    assert timedelta(hours=23, minutes=59) < expires - timezone.now() <= timedelta(hours=24)
    assert made.json()["expires_at"] is not None
    assert lasting.json()["expires_at"] is None
    assert "expires_in" not in made.json()


def test_an_unknown_lifetime_is_refused_naming_the_choices(alice):
    client = api_as(alice)
    before = ApiToken.objects.count()

    response = client.post(TOKENS, {"name": "ci", "expires_in": "1y"}, format="json")

    assert response.status_code == 400
    assert "expires_in" in response.json()
    assert ApiToken.objects.count() == before

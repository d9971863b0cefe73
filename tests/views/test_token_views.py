"""Settings → API tokens: create (shown once, stored hashed), list and revoke."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client

from console.models import ApiToken
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db


def created_token(page: str) -> str:
    match = re.search(r'id="new-token".*?<span class="mono">(berth_[^<]+)</span>', page, re.S)
    assert match, "the new token is not on the page"
    return match.group(1)


def database_contains(text: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM console_apitoken WHERE "
                       "name || prefix || token_hash LIKE %s", [f"%{text}%"])
        return cursor.fetchone()[0] > 0


def test_an_anonymous_visitor_is_sent_to_log_in():
    assert Client().get("/settings/tokens/")["Location"] == "/login/?next=/settings/tokens/"
    assert Client().post("/settings/tokens/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_a_new_token_is_shown_once_and_stored_only_hashed(alice):
    client = logged_in(alice)

    page = client.post("/settings/tokens/", {"name": "laptop CLI"}).content.decode()
    raw = created_token(page)

    assert "it will not be shown again" in page
    assert not database_contains(raw)
    assert raw not in client.get("/settings/tokens/").content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 200


def test_a_token_needs_a_name(alice):
    response = logged_in(alice).post("/settings/tokens/", {"name": ""})

    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_list_shows_my_tokens_only_by_prefix(alice, bob):
    mine, raw = ApiToken.issue(alice, "alice laptop")
    ApiToken.issue(bob, "bob laptop")

    page = logged_in(alice).get("/settings/tokens/").content.decode()

    assert "alice laptop" in page
    assert mine.prefix in page
    assert raw not in page
    assert "bob laptop" not in page


def test_revoking_a_token_stops_it_working(alice):
    token, raw = ApiToken.issue(alice, "ci")

    response = logged_in(alice).post(f"/settings/tokens/{token.pk}/revoke/", follow=True)

    assert "Token ci revoked" in response.content.decode()
    assert "revoked</span>" in response.content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 401


def test_nobody_can_revoke_someone_elses_token(alice, bob):
    token, raw = ApiToken.issue(alice, "ci")

    assert logged_in(bob).post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert Client().post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 200


def test_revoking_only_accepts_post(alice):
    token, _ = ApiToken.issue(alice, "ci")

    assert logged_in(alice).get(f"/settings/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.is_active

"""Settings → API tokens: create (secret shown once, stored hashed), list, revoke after confirming."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from console.models import ApiToken
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db

TOKENS = "/settings/tokens/"


def created_token(page: str) -> str:
    match = re.search(r'id="new-token-value"[^>]*>(berth_[^<]+)</code>', page)
    assert match, "the new token is not on the page"
    return match.group(1)


def database_contains(text: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM console_apitoken WHERE "
                       "name || prefix || token_hash LIKE %s", [f"%{text}%"])
        return cursor.fetchone()[0] > 0


def create(client: Client, name: str, expires: str = "never") -> str:
    """Create a token as the form does and follow the redirect: the page that shows the secret."""
    response = client.post(TOKENS, {"name": name, "expires": expires}, follow=True)
    assert response.redirect_chain == [(TOKENS, 302)]
    return response.content.decode()


def test_an_anonymous_visitor_is_sent_to_log_in():
    assert Client().get(TOKENS)["Location"] == "/login/?next=/settings/tokens/"
    assert Client().post(TOKENS, {"name": "x"}).status_code == 302
    assert Client().get("/settings/tokens/1/revoke/").status_code == 302
    assert not ApiToken.objects.exists()


def test_a_new_token_is_shown_once_and_stored_only_hashed(alice):
    client = logged_in(alice)

    page = create(client, "laptop CLI")
    raw = created_token(page)

    assert "it will not be shown again" in page
    assert not database_contains(raw)
    assert raw not in client.get(TOKENS).content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 200


def test_creating_answers_a_redirect_so_reloading_creates_no_second_token(alice):
    client = logged_in(alice)

    response = client.post(TOKENS, {"name": "ci", "expires": "never"})
    first, reload = client.get(TOKENS).content.decode(), client.get(TOKENS).content.decode()

    assert response.status_code == 302
    assert response["Location"] == TOKENS
    assert ApiToken.objects.filter(user=alice).count() == 1
    assert created_token(first)
    assert 'id="new-token"' not in reload


def test_the_page_showing_a_secret_is_never_cached(alice):
    client = logged_in(alice)
    client.post(TOKENS, {"name": "ci", "expires": "never"})

    response = client.get(TOKENS)

    assert created_token(response.content.decode())
    assert "no-store" in response["Cache-Control"]


def test_the_new_token_comes_with_the_shell_lines_for_this_console(alice):
    page = create(logged_in(alice), "laptop")

    assert f"export BERTH_URL=http://testserver\nexport BERTH_TOKEN={created_token(page)}" in page
    assert 'id="new-token-value" data-copy-label="Copy token"' in page
    assert 'id="new-token-export" data-copy-label="Copy these lines"' in page


def test_a_token_needs_a_name(alice):
    response = logged_in(alice).post(TOKENS, {"name": "", "expires": "never"})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_list_shows_my_tokens_only_by_prefix(alice, bob):
    mine, raw = ApiToken.issue(alice, "alice laptop")
    ApiToken.issue(bob, "bob laptop")

    page = logged_in(alice).get(TOKENS).content.decode()

    assert "alice laptop" in page
    assert mine.prefix in page
    assert raw not in page
    assert "bob laptop" not in page


@pytest.mark.parametrize(("choice", "lifetime"), [
    ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)), ("90d", timedelta(days=90)),
])
def test_a_token_can_be_made_to_expire(alice, choice, lifetime):
    before = timezone.now()

    page = create(logged_in(alice), "ci", expires=choice)

    token = ApiToken.objects.get()
    assert token.expires_at is not None
    assert before + lifetime <= token.expires_at <= timezone.now() + lifetime
    assert token.expires_at.strftime("%Y-%m-%d %H:%M") in page


def test_a_token_never_expires_unless_asked(alice):
    form = logged_in(alice).get(TOKENS).content.decode()
    create(logged_in(alice), "ci")

    assert re.search(r'<option value="never" selected>Never expires</option>', form)
    assert ApiToken.objects.get().expires_at is None


def test_an_unknown_expiry_is_refused(alice):
    response = logged_in(alice).post(TOKENS, {"name": "ci", "expires": "forever"})

    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_the_list_shows_expiry_last_use_and_an_expired_status(alice):
    used, _ = ApiToken.issue(alice, "used")
    ApiToken.objects.filter(pk=used.pk).update(last_used_at=timezone.now() - timedelta(hours=3))
    expired, _ = ApiToken.issue(alice, "old", lifetime=timedelta(days=1))
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=5))

    page = logged_in(alice).get(TOKENS).content.decode()

    used.refresh_from_db()
    expired.refresh_from_db()
    assert re.search(rf'id="token-{used.pk}" data-status="active">.*?class="expires">never<.*?'
                     rf'class="last-used">{used.last_used_at:%Y-%m-%d %H:%M}<', page, re.S)
    assert re.search(rf'id="token-{expired.pk}" data-status="expired">.*?'
                     rf'class="expires">{expired.expires_at:%Y-%m-%d %H:%M}<.*?class="last-used">never<', page, re.S)


def test_revoking_asks_first_naming_the_token(alice):
    token, _ = ApiToken.issue(alice, "nightly CI")

    page = logged_in(alice).get(f"/settings/tokens/{token.pk}/revoke/").content.decode()

    assert "Revoke token nightly CI?" in page
    assert f"{token.prefix}…" in page
    assert f'action="/settings/tokens/{token.pk}/revoke/"' in page
    token.refresh_from_db()
    assert token.is_active


def test_the_list_links_each_token_to_its_confirmation(alice):
    token, _ = ApiToken.issue(alice, "ci")

    page = logged_in(alice).get(TOKENS).content.decode()

    assert f'href="/settings/tokens/{token.pk}/revoke/"' in page
    assert "<form method=\"post\" action=\"/settings/tokens/" not in page


def test_revoking_a_token_stops_it_working(alice):
    token, raw = ApiToken.issue(alice, "ci")

    response = logged_in(alice).post(f"/settings/tokens/{token.pk}/revoke/", follow=True)

    assert "Token ci revoked" in response.content.decode()
    assert f'id="token-{token.pk}" data-status="revoked"' in response.content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 401


def test_nobody_can_revoke_or_see_someone_elses_token(alice, bob):
    token, raw = ApiToken.issue(alice, "ci")

    assert logged_in(bob).get(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert logged_in(bob).post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert Client().post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/projects/").status_code == 200

"""The API's token authentication: expired tokens are refused saying when, and use is recorded sparingly."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.models import ApiToken

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response  # the stubs' name for a test response

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"


def call_with(raw: str) -> Response:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(PROJECTS)


def updates_of_tokens(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "console_apitoken"')]


def test_a_token_works_until_it_expires(alice):
    token, raw = ApiToken.issue(alice, "ci", lifetime=timedelta(hours=24))

    assert call_with(raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call_with(raw).status_code == 401


def test_an_expired_token_is_told_when_it_expired_and_where_to_get_a_new_one(alice):
    token, raw = ApiToken.issue(alice, "ci", lifetime=timedelta(days=7))
    expired_at = timezone.now().replace(year=2026, month=3, day=4, hour=5, minute=6)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=expired_at)

    response = call_with(raw)

    assert response.status_code == 401
    assert response.json() == {"detail": "This token expired on 2026-03-04 05:06 UTC; create a new one under "
                                         "Settings → API tokens (http://testserver/settings/tokens/)."}
    assert response["WWW-Authenticate"] == 'Bearer realm="berth"'


def test_a_token_without_expiry_keeps_working(alice):
    token, raw = ApiToken.issue(alice, "ci")
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=400))

    assert call_with(raw).status_code == 200


def test_an_expired_token_is_not_marked_used(alice):
    token, raw = ApiToken.issue(alice, "ci", lifetime=timedelta(hours=24))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    call_with(raw)

    token.refresh_from_db()
    assert token.last_used_at is None


def test_last_use_is_written_at_most_once_a_minute(alice):
    token, raw = ApiToken.issue(alice, "ci")

    with CaptureQueriesContext(connection) as first:
        call_with(raw)
    token.refresh_from_db()
    used_at = token.last_used_at
    with CaptureQueriesContext(connection) as soon_after:
        call_with(raw)
        call_with(raw)

    token.refresh_from_db()
    assert len(updates_of_tokens(first)) == 1
    assert updates_of_tokens(soon_after) == []
    assert token.last_used_at == used_at


def test_last_use_is_written_again_after_a_minute(alice):
    token, raw = ApiToken.issue(alice, "ci")
    a_while_ago = timezone.now() - timedelta(seconds=61)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=a_while_ago)

    call_with(raw)

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.last_used_at > a_while_ago + timedelta(seconds=60)

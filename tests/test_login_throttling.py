"""Login throttling (django-axes): wrong passwords for one username from one address pause that pair."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings

from tests.fixtures.people import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def log_in(username: str, password: str, address: str = ATTACKER, url: str = LOGIN) -> tuple[Client, int, str]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    return client, response.status_code, response.content.decode()


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(username: str, times: int, address: str = ATTACKER, url: str = LOGIN) -> list[int]:
    return [log_in(username, "not-the-password", address, url)[1] for _ in range(times)]


def wind_back(minutes: float) -> None:
    """Time travel: every recorded failure happened `minutes` earlier."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - timedelta(minutes=minutes))


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME

    assert (limit, cool_off) == (5, timedelta(minutes=15))


def test_wrong_passwords_below_the_limit_get_the_login_form_again(alice):
    assert fail("alice", 4) == [200] * 4
    client, status, _ = log_in("alice", PASSWORD)

    assert status == 302
    assert is_logged_in(client)


def test_the_fifth_wrong_password_locks_out_and_the_right_one_is_then_refused_with_when_to_try_again(alice):
    assert fail("alice", 5) == [200, 200, 200, 200, 429]

    client, status, page = log_in("alice", PASSWORD)

    assert status == 429
    assert not is_logged_in(client)
    assert "Too many failed log-ins" in page
    assert "Try again in 15 minutes" in page
    retry_at = AccessAttempt.objects.get().attempt_time + timedelta(minutes=15)
    assert f"after {retry_at:%H:%M} UTC" in page
    assert 14 * 60 < int(client.post(LOGIN, {"username": "alice", "password": PASSWORD})["Retry-After"]) <= 15 * 60


def test_the_time_to_wait_counts_from_the_last_counted_failure_not_from_refused_attempts(alice):
    fail("alice", 5)
    wind_back(minutes=10)
    fail("alice", 3)  # refused while locked out: they don't restart the cool-off

    _, status, page = log_in("alice", PASSWORD)

    assert status == 429
    assert "Try again in 5 minutes" in page


def test_another_user_from_the_same_address_still_logs_in(alice, bob):
    fail("alice", 5)

    client, status, _ = log_in("bob", PASSWORD)

    assert status == 302
    assert is_logged_in(client)


def test_the_same_user_from_another_address_still_logs_in(alice):
    fail("alice", 5)

    client, status, _ = log_in("alice", PASSWORD, address=ELSEWHERE)

    assert status == 302
    assert is_logged_in(client)


def test_the_right_password_works_again_after_the_cool_off(alice):
    fail("alice", 5)
    wind_back(minutes=15.1)

    client, status, _ = log_in("alice", PASSWORD)

    assert status == 302
    assert is_logged_in(client)


@override_settings(AXES_COOLOFF_TIME=timedelta(minutes=1))
def test_the_cool_off_is_a_setting(alice):
    fail("alice", 5)
    assert "Try again in 1 minute," in log_in("alice", PASSWORD)[2]
    wind_back(minutes=1.1)

    assert log_in("alice", PASSWORD)[1] == 302


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_failure_limit_is_a_setting(alice):
    assert fail("alice", 2) == [200, 429]


def test_a_successful_login_starts_the_count_again(alice):
    fail("alice", 4)
    assert log_in("alice", PASSWORD)[1] == 302

    assert fail("alice", 4) == [200] * 4
    assert log_in("alice", PASSWORD)[1] == 302


def test_the_admin_login_is_throttled_too(alice):
    User.objects.filter(pk=alice.pk).update(is_staff=True, is_superuser=True)
    assert fail("alice", 5, url=ADMIN_LOGIN)[-1] == 429

    client, status, page = log_in("alice", PASSWORD, url=ADMIN_LOGIN)

    assert status == 429
    assert "Try again in 15 minutes" in page
    assert not is_logged_in(client)
    assert log_in("alice", PASSWORD, url=LOGIN)[1] == 429  # one count for both doors


def test_a_locked_out_user_keeps_using_the_api_with_a_token(alice):
    from tests.fixtures.people import token_for

    raw = token_for(alice)
    fail("alice", 5)

    response = Client(REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/tokens/")

    assert response.status_code == 200


def test_an_open_session_is_not_ended_by_a_lockout(alice):
    client, status, _ = log_in("alice", PASSWORD)
    assert status == 302
    fail("alice", 5)

    assert client.get("/settings/tokens/").status_code == 200


def test_failures_are_stored_without_the_password_tried(alice):
    fail("alice", 2)

    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == ("alice", ATTACKER, 2)
    assert "not-the-password" not in attempt.post_data

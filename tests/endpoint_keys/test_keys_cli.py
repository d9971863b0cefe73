"""`berth keys create|list|revoke --project …` against a live console."""

from __future__ import annotations

import json

import pytest

from deployments.models import EndpointKey
from deployments.models.endpoint_key import hash_key
from tests.cli.run import berth
from tests.fixtures.people import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_deployer_creates_lists_and_revokes_a_key_by_name(live_console, deployer):
    token = token_for(deployer)
    created = berth("keys", "create", "--project", "fraud", "--name", "billing", "--expires", "90d",
                    url=live_console, token=token)
    assert created.code == 0, created.err
    raw = next(word for word in created.out.split() if word.startswith("bek_"))
    assert f"export BERTH_ENDPOINT_KEY={raw}" in created.out
    assert EndpointKey.objects.get().key_hash == hash_key(raw)

    listed = berth("keys", "list", "--project", "fraud", "--json", url=live_console, token=token)
    assert listed.code == 0, listed.err
    assert [(k["name"], k["status"]) for k in json.loads(listed.out)] == [("billing", "active")]
    assert raw not in listed.out

    revoked = berth("keys", "revoke", "--project", "fraud", "billing", url=live_console, token=token)
    assert revoked.code == 0, revoked.err
    assert EndpointKey.objects.get().revoked_at is not None


def test_a_viewer_is_refused_creating_and_an_outsider_sees_no_project(live_console, project, bob, charlie):
    viewer = berth("keys", "create", "--project", "fraud", "--name", "x", url=live_console, token=token_for(bob))
    outsider = berth("keys", "list", "--project", "fraud", url=live_console, token=token_for(charlie))

    assert viewer.code == 1
    assert "deployer" in viewer.err
    assert outsider.code == 1
    assert "No such project" in outsider.err
    assert not EndpointKey.objects.exists()


def test_revoking_an_unknown_name_says_to_give_the_id(live_console, deployer):
    answer = berth("keys", "revoke", "--project", "fraud", "nope", url=live_console, token=token_for(deployer))

    assert answer.code == 1
    assert "give the id" in answer.err

"""A key's last use, read from a gateway's /metrics text: only forward, only the gateway's own project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deployments.endpoint_keys.last_used import last_uses, record
from deployments.models import EndpointKey
from serving.endpoint_keys import KeyUsage

pytestmark = pytest.mark.django_db


def test_uses_counted_by_the_gateway_move_last_used_forward_and_never_back(project, deployer):
    key, _ = EndpointKey.issue(project, "billing", deployer)
    usage = KeyUsage()
    usage.note(str(key.pk))
    usage.note("console")  # the console's own key has no row
    uses = last_uses(usage.render().decode())

    assert set(uses) == {key.pk}
    assert record(project.pk, uses) == 1
    seen = EndpointKey.objects.get(pk=key.pk).last_used_at
    assert seen is not None
    assert abs(seen - datetime.now(UTC)) < timedelta(minutes=5)
    assert record(project.pk, {key.pk: seen - timedelta(hours=1)}) == 0
    assert EndpointKey.objects.get(pk=key.pk).last_used_at == seen


def test_a_gateway_cannot_touch_another_projects_keys(project, other_project, deployer, charlie):
    theirs, _ = EndpointKey.issue(other_project, "theirs", charlie)

    assert record(project.pk, {theirs.pk: datetime.now(UTC)}) == 0
    assert EndpointKey.objects.get(pk=theirs.pk).last_used_at is None


def test_unreadable_metrics_give_no_uses():
    assert last_uses("this is { not prometheus") == {}

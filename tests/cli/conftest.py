"""What the CLI's deploy tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from console.locks import held_lock, lock_ttl_s
from deployments.models import Deployment, Rollout, RolloutStatus
from deployments.rollouts.engine import lock_name


@pytest.fixture
def stop_what_was_deployed(db: None) -> Iterator[None]:
    """Stop every replica and gateway a test deployed for real, once it is done."""
    yield
    from deployments.backends.base import get_backend

    for deployment in Deployment.objects.all():
        get_backend().delete(deployment)


@pytest.fixture(autouse=True)
def no_rollout_left_to_a_worker(request: pytest.FixtureRequest) -> Iterator[None]:
    """A rollout a CLI test requested and left queued is ended before the database is emptied: a
    Celery worker of this session would otherwise run it while the tables are truncated (deadlock).
    Taking the engine's lock waits for a run already under way, as a second worker would."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    for rollout in Rollout.objects.filter(status__in=RolloutStatus.active()):
        with held_lock(lock_name(rollout.deployment_id), wait_s=lock_ttl_s() + 30):
            Rollout.objects.filter(pk=rollout.pk, status__in=RolloutStatus.active()).update(
                status=RolloutStatus.FAILED, reason="The test ended before it ran.", finished_at=timezone.now())

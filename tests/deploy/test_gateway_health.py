"""The gateway's own health is part of the deployment's status: a gateway that does not answer is Degraded."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from deployments.models import Deployment, DeploymentStatus, EventKind, EventLevel, RolloutStatus
from deployments.rollouts.requests import deploy
from deployments.tasks import refresh_health
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.people import logged_in
from tests.fixtures.runtime import ready_build, supervisor_rpc

pytestmark = pytest.mark.django_db(transaction=True)


def health_checked_until(deployment: Deployment, status: str, timeout_s: float = 60) -> Deployment:
    """Run the periodic health check until the deployment has `status` (or the deadline passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        refresh_health()
        deployment.refresh_from_db()
        if deployment.status == status or time.monotonic() > deadline:
            return deployment
        time.sleep(0.5)


def gateway_pid(deployment: Deployment) -> int:
    from django.conf import settings

    return supervisor_rpc(settings.BERTH_SUPERVISOR_URL).getProcessInfo(f"berth-d{deployment.pk}-gateway")["pid"]


@pytest.fixture
def stopped_gateway(supervisord, celery_worker, iris_model, alice) -> Iterator[Deployment]:
    """A deployment that served, whose gateway process is then stopped (SIGSTOP); continued at the end."""
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    deployment = health_checked_until(rollout.deployment, DeploymentStatus.RUNNING)
    assert deployment.status == DeploymentStatus.RUNNING, deployment.status_reason
    pid = gateway_pid(deployment)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield deployment
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_gateway_that_does_not_answer_degrades_the_deployment_until_it_answers_again(stopped_gateway, alice):
    said = f"the gateway on port {stopped_gateway.gateway_port} does not answer"

    degraded = health_checked_until(stopped_gateway, DeploymentStatus.DEGRADED)
    api = logged_in(alice).get(f"/api/v1/deployments/{degraded.pk}/").json()
    page = logged_in(alice).get(f"/deployments/{degraded.pk}/").content.decode()

    assert degraded.status == DeploymentStatus.DEGRADED, degraded.status_reason
    assert said in degraded.status_reason
    assert (api["status"], said in api["status_reason"]) == ("degraded", True)
    assert said in page
    warning = degraded.events.get(kind=EventKind.STATUS_CHANGED, message__contains=said)
    assert warning.level == EventLevel.WARNING

    os.kill(gateway_pid(degraded), signal.SIGCONT)
    running = health_checked_until(degraded, DeploymentStatus.RUNNING)

    assert running.status == DeploymentStatus.RUNNING, running.status_reason
    assert running.events.filter(kind=EventKind.STATUS_CHANGED, message="Deployment is running.").exists()

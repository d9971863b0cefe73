"""What goes wrong in a real runtime: a build that crashes on start, a replica that is killed."""

from __future__ import annotations

import os
import re
import signal
import time

import httpx
import pytest

from deployments.backends.base import Backend, ReplicaStatus, get_backend
from deployments.models import Deployment, DeploymentStatus, EventKind, EventLevel, RolloutStatus
from deployments.rollouts.requests import deploy
from deployments.tasks import refresh_health
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.runtime import CRASHES_AT_IMPORT, CRASHES_ON_START, ready_build, supervisor_rpc

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_keeps_old_revision_serving_when_new_build_crashes(supervisord, celery_worker, iris_model, alice):
    good, broken = ready_build(iris_model), ready_build(iris_model, CRASHES_ON_START)
    first = wait_for_rollout(deploy(iris_model, spec(good), alice))
    assert first.status == RolloutStatus.SUCCEEDED, first.reason

    failed = wait_for_rollout(deploy(iris_model, spec(broken), alice))

    assert failed.status == RolloutStatus.FAILED
    assert "keeps crashing" in failed.reason
    assert "exited with code 3" in failed.reason
    assert "cannot reach the feature store" in failed.reason
    deployment = failed.deployment
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert deployment.current_rollout == first
    assert "keeps serving" in deployment.status_reason
    assert failed.events.filter(kind=EventKind.REPLICA_CRASHED).exists()
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).json() == [{"species": 0}]
    [left] = get_backend().replicas(deployment)
    assert left.ready
    assert left.name.startswith("default-")


def test_a_first_deploy_that_crashes_fails_and_leaves_nothing_running(supervisord, celery_worker, iris_model, alice):
    broken = ready_build(iris_model, CRASHES_AT_IMPORT)

    failed = wait_for_rollout(deploy(iris_model, spec(broken), alice))

    assert failed.status == RolloutStatus.FAILED
    assert "exited with code 3: the model could not be loaded (ModelLoadError" in failed.reason
    assert re.search(r"\n\d\d:\d\d:\d\d error model_load_failed: ModelLoadError: .*cannot reach the feature store",
                     failed.reason), "the last log lines should read as sentences, not JSON"
    deployment = failed.deployment
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert "cannot reach the feature store" in deployment.status_reason
    assert get_backend().replicas(deployment) == []


def wait_for_restarts(backend: Backend, deployment: Deployment, restarts: int) -> ReplicaStatus:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        [now] = backend.replicas(deployment)
        if now.restarts == restarts and now.ready:
            break
        time.sleep(0.2)
    return now


def test_a_killed_replica_is_restarted_and_the_event_is_stored(supervisord, celery_worker, iris_model, alice):
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    deployment, backend = rollout.deployment, get_backend()
    deployment.refresh_from_db()
    refresh_health()  # first look: remembers the replica as it is
    [replica] = backend.replicas(deployment)

    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGKILL)
    now = wait_for_restarts(backend, deployment, 1)
    refresh_health()

    assert now.ready
    assert now.pid != replica.pid
    assert now.exit_code == -9
    event = deployment.events.get(kind=EventKind.REPLICA_RESTARTED)
    assert replica.name in event.message
    assert "SIGKILL" in event.message
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).status_code == 200

    # What supervisord does to it when the console is stopped and started again: no crash.
    rpc, program = supervisor_rpc(supervisord.url), f"berth-d{deployment.pk}-{replica.name}"
    rpc.stopProcess(program)
    rpc.startProcess(program)
    again = wait_for_restarts(backend, deployment, 2)
    refresh_health()

    assert again.ready
    assert again.exit_code is None
    assert "stopped on purpose" in again.last_exit
    second = deployment.events.filter(kind=EventKind.REPLICA_RESTARTED).latest("created_at")
    assert "stopped on purpose" in second.message
    assert "SIGKILL" not in second.message
    assert second.level == EventLevel.INFO

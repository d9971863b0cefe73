"""Rollouts that outlive their worker or never get ready, and what a replica's environment holds."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings

from deployments.backends.base import get_backend
from deployments.models import DeploymentStatus, EventKind, RolloutStatus
from deployments.rollouts.requests import deploy
from tests.deploy.conftest import wait_for_rollout
from tests.deploy.test_lifecycle import spec
from tests.fixtures.builds import IRIS_CLASSIFIER, IRIS_ROW
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)


def loads_for(seconds: int) -> str:
    """An iris model whose deployed replicas take `seconds` to load (validation stays quick)."""
    return IRIS_CLASSIFIER + f'''
    def initialize_model(self):
        import os, time
        if os.environ.get("BERTH_VARIATION"):
            time.sleep({seconds})
'''


ECHOES_ITS_ENVIRONMENT = IRIS_CLASSIFIER.replace(
    "return pd.DataFrame(data=self._model.predict(df), columns=['species'])",
    "import os\n"
    "        return pd.DataFrame({'species': self._model.predict(df), 'mode': os.environ.get('MODE', ''),\n"
    "                             'token': os.environ.get('API_TOKEN', '')})")


def wait_for_event(rollout, kind: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not rollout.events.filter(kind=kind).exists():
        assert time.monotonic() < deadline, f"no {kind} event within {timeout_s} s"
        time.sleep(0.1)


def kill_pool_processes(worker) -> None:
    """SIGKILL the worker's pool children, as the OOM killer or a node loss would."""
    for child in psutil.Process(worker.proc.pid).children():
        child.kill()


def test_a_rollout_whose_worker_is_killed_resumes_and_succeeds(supervisord, celery_worker, iris_model, alice):
    rollout = deploy(iris_model, spec(ready_build(iris_model, loads_for(5))), alice)
    wait_for_event(rollout, EventKind.REPLICA_STARTED)  # the worker now waits for readiness

    kill_pool_processes(celery_worker)

    rollout = wait_for_rollout(rollout)
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    assert rollout.attempts == 2
    assert rollout.events.filter(kind=EventKind.STARTED, message__contains="attempt 2").exists()
    deployment = rollout.deployment
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert len(get_backend().replicas(deployment)) == 1, "the resumed attempt reuses the replica, adds none"
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).json() == [{"species": 0}]


def test_a_replica_that_never_gets_ready_fails_the_rollout_at_the_deploy_timeout(supervisord, celery_worker,
                                                                                  iris_model, alice):
    first = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    assert first.status == RolloutStatus.SUCCEEDED, first.reason

    stuck = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model, loads_for(600))), alice))

    assert stuck.status == RolloutStatus.FAILED
    assert f"within the deploy timeout of {settings.BERTH_DEPLOY_TIMEOUT_CAP_S} s" in stuck.reason
    assert "loading the model" in stuck.reason
    deployment = stuck.deployment
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert deployment.current_rollout == first
    [left] = get_backend().replicas(deployment)
    assert left.ready, "only the first revision's replica is left"
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).json() == [{"species": 0}]


def test_env_vars_and_secrets_reach_the_model_and_secrets_never_touch_disk(supervisord, celery_worker, iris_model,
                                                                           alice):
    env = [{"name": "MODE", "value": "fast"}, {"name": "API_TOKEN", "value": "tok-9f2c41", "secret": True}]
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model, ECHOES_ITS_ENVIRONMENT), env=env),
                                      alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    rollout.deployment.refresh_from_db()

    answer = httpx.post(rollout.deployment.predict_url, json=[IRIS_ROW]).json()

    assert answer == [{"species": 0, "mode": "fast", "token": "tok-9f2c41"}]
    written = [p for p in Path(settings.DATA_DIR).rglob("*") if p.is_file() and b"tok-9f2c41" in p.read_bytes()]
    assert written == [], "the secret's plain value was written to disk"

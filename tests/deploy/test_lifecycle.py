"""Deploying iris for real: supervisord, model-server processes, the gateway and the Celery worker.

The first test walks the whole life of a deployment end to end; the others check one behaviour each.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.backends.base import get_backend
from deployments.models import Deployment, DeploymentStatus, EventKind, Rollout, RolloutStatus
from deployments.rollouts.requests import deploy, request_rollback, request_scale, request_undeploy
from tests.deploy.conftest import wait_for_rollout
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.runtime import IRIS_V2, ready_build, supervisor_rpc

pytestmark = pytest.mark.django_db(transaction=True)


def spec(build: Any, **overrides: Any) -> dict[str, Any]:
    variation = {"name": "default", "build_id": str(build.build_id), "instance_type": "small", "replicas": 1,
                 "server_workers": 1, "request_timeout_ms": 5000, **overrides}
    return {"variations": [variation]}


class Load:
    """Requests sent back to back from a thread while a rollout runs; every failure is kept."""

    def __init__(self, url: str) -> None:
        self.url, self.sent = url, 0
        self.failures: list[str] = []
        self.versions: set[int] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                self.sent += 1
                try:
                    response = client.post(self.url, json=[IRIS_ROW])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                else:
                    self.versions.add(response.json()[0].get("model_version", 1))

    def wait_for_version(self, version: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while version not in self.versions and time.monotonic() < deadline:
            time.sleep(0.1)


class StatusWatch:
    """Every (status, reason) the database held for a deployment while a rollout ran, as a page would show them."""

    def __init__(self, rollout: Rollout) -> None:
        self.rollout = rollout
        self.seen: list[tuple[str, str]] = []

    def until_done(self, timeout_s: float = 120) -> Rollout:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.rollout.refresh_from_db()
            self._look()  # after the rollout: its end and the status it left are stored together
            if not self.rollout.is_active:
                return self.rollout
            time.sleep(0.05)
        return wait_for_rollout(self.rollout, 1)

    def _look(self) -> None:
        deployment = Deployment.objects.get(pk=self.rollout.deployment_id)
        if (deployment.status, deployment.status_reason) not in self.seen:
            self.seen.append((deployment.status, deployment.status_reason))

    def said(self, words: str) -> bool:
        return any(words in reason for _, reason in self.seen)


def refuses_connections(port: int | None) -> bool:
    assert port is not None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_iris_serves_updates_under_load_rolls_back_scales_and_undeploys(supervisord, celery_worker, iris_model,
                                                                         alice):
    v1, v2 = ready_build(iris_model), ready_build(iris_model, IRIS_V2)

    first = wait_for_rollout(deploy(iris_model, spec(v1), alice))
    assert first.status == RolloutStatus.SUCCEEDED, first.reason
    deployment = first.deployment
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert deployment.current_rollout == first
    assert deployment.observed["replicas"][0]["state"] == "ready"  # the observer stored what it saw
    response = httpx.post(deployment.predict_url, json=[IRIS_ROW])
    assert response.status_code == 200, response.text
    assert response.json() == [{"species": 0}]
    assert response.headers["x-berth-variation"] == "default"
    direct = httpx.post(deployment.variation_predict_url("default"), json=IRIS_ROW)
    assert direct.status_code == 200
    assert direct.json() == [{"species": 0}]

    with Load(deployment.predict_url) as load:
        second = wait_for_rollout(deploy(iris_model, spec(v2), alice))
        load.wait_for_version(2)
    assert second.status == RolloutStatus.SUCCEEDED, second.reason
    assert load.failures == []
    assert load.sent > 20
    assert load.versions == {1, 2}
    kinds = list(second.events.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds.index(EventKind.REPLICA_READY) < kinds.index(EventKind.TRAFFIC_SWITCHED) \
        < kinds.index(EventKind.REPLICA_STOPPED) < kinds.index(EventKind.SUCCEEDED)

    back = wait_for_rollout(request_rollback(deployment, first.revision, alice))
    assert back.status == RolloutStatus.SUCCEEDED, back.reason
    second.refresh_from_db()
    assert second.status == RolloutStatus.ROLLED_BACK
    assert httpx.post(deployment.predict_url, json=[IRIS_ROW]).json() == [{"species": 0}]

    backend = get_backend()
    deployment.refresh_from_db()
    [before] = backend.replicas(deployment)
    up = wait_for_rollout(request_scale(deployment, "default", 3, alice))
    assert up.status == RolloutStatus.SUCCEEDED, up.reason
    replicas = backend.replicas(deployment)
    assert len(replicas) == 3
    assert all(r.ready for r in replicas)
    assert before.pid in {r.pid for r in replicas}, "scaling restarted the replica that was serving"
    deployment.refresh_from_db()
    assert deployment.variations.get().replicas == 3
    down = wait_for_rollout(request_scale(deployment, "default", 1, alice))
    assert down.status == RolloutStatus.SUCCEEDED, down.reason
    assert [r.pid for r in backend.replicas(deployment)] == [before.pid]

    sockets = [Path(r.endpoint.removeprefix("unix:")) for r in backend.replicas(deployment)]
    assert all(path.is_socket() for path in sockets)
    gone = wait_for_rollout(request_undeploy(deployment, alice))
    assert gone.status == RolloutStatus.SUCCEEDED, gone.reason
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED
    programs = [p["name"] for p in supervisor_rpc(supervisord.url).getAllProcessInfo()]
    assert not [p for p in programs if p.startswith(f"berth-d{deployment.pk}-")]
    assert refuses_connections(deployment.gateway_port)
    assert not any(path.exists() for path in sockets)


# --- one behaviour per test ---------------------------------------------------------------------

def test_a_rolling_update_says_what_serves_and_what_starts(supervisord, celery_worker, iris_model, alice):
    v1, v2 = ready_build(iris_model), ready_build(iris_model, IRIS_V2)
    first = wait_for_rollout(deploy(iris_model, spec(v1), alice))

    watch = StatusWatch(deploy(iris_model, spec(v2), alice))
    second = watch.until_done()

    assert second.status == RolloutStatus.SUCCEEDED, second.reason
    assert watch.said(f"Rolling out revision {second.revision} · 0 of 1 ready. "
                      f"Revision {first.revision} serves meanwhile (1 of 1 ready).")
    assert watch.seen[-1] == (DeploymentStatus.RUNNING, "")


def test_scaling_says_scaling_to_n_and_keeps_the_serving_replica(supervisord, celery_worker, iris_model, alice):
    first = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    deployment = first.deployment
    [before] = get_backend().replicas(deployment)

    watch = StatusWatch(request_scale(deployment, "default", 3, alice))
    up = watch.until_done()

    assert up.status == RolloutStatus.SUCCEEDED, up.reason
    assert watch.said("Scaling default to 3 · 1 of 3 ready.")
    assert not watch.said("removed")
    assert not watch.said("1/1")
    replicas = get_backend().replicas(deployment)
    assert len(replicas) == 3
    assert all(r.ready for r in replicas)
    assert before.pid in {r.pid for r in replicas}


def test_a_rollback_keeps_how_long_the_replaced_revision_took(supervisord, celery_worker, iris_model, alice):
    v1, v2 = ready_build(iris_model), ready_build(iris_model, IRIS_V2)
    first = wait_for_rollout(deploy(iris_model, spec(v1), alice))
    second = wait_for_rollout(deploy(iris_model, spec(v2), alice))
    took = second.duration_s

    back = wait_for_rollout(request_rollback(first.deployment, first.revision, alice))

    assert back.status == RolloutStatus.SUCCEEDED, back.reason
    second.refresh_from_db()
    assert second.status == RolloutStatus.ROLLED_BACK
    assert second.duration_s == took


def test_a_deployment_keeps_its_endpoint_when_deployed_again(supervisord, celery_worker, iris_model, alice):
    build = ready_build(iris_model)
    first = wait_for_rollout(deploy(iris_model, spec(build), alice))
    deployment = first.deployment
    deployment.refresh_from_db()
    endpoint = deployment.predict_url
    assert wait_for_rollout(request_undeploy(deployment, alice)).status == RolloutStatus.SUCCEEDED
    assert refuses_connections(deployment.gateway_port)

    again = wait_for_rollout(deploy(iris_model, spec(build), alice))

    assert again.status == RolloutStatus.SUCCEEDED, again.reason
    deployment.refresh_from_db()
    assert deployment.predict_url == endpoint
    assert httpx.post(endpoint, json=[IRIS_ROW]).json() == [{"species": 0}]

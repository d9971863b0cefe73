"""Between two looks at a rollout's replicas the engine waits on a watch of their pods, not a fixed
poll: it is back at the pods' first change, and a version too old to watch from sends it to list again."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from deployments.backends.kubernetes import backend as kubernetes_backend
from deployments.backends.kubernetes.backend import KubernetesBackend
from deployments.models import Model
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import StandInCluster
from tests.kubernetes.stand_in.fixtures import eventually
from tests.kubernetes.test_backend_apply import NAMESPACE, a_deployment

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
QUIET_BOUND_S = 120  # far longer than the test waits for the change: returning means it saw one


def test_the_wait_ends_at_the_pods_first_change_not_at_its_bound(
        on_stand_in: StandInCluster, iris_model: Model, monkeypatch: Any) -> None:
    monkeypatch.setattr(kubernetes_backend, "CHANGE_WAIT_S", QUIET_BOUND_S)
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    on_stand_in.pause()  # no controller: nothing changes until the test says so
    backend.apply(deployment, spec)
    assert backend.replicas(deployment) == []
    before = len(on_stand_in.server.requests)
    waiter = threading.Thread(target=backend.await_change, args=(deployment, 0.1))
    waiter.start()
    eventually(lambda: any("/pods?" in r and "watch=true" in r for r in on_stand_in.server.requests[before:]),
               "the engine to watch the pods")

    on_stand_in.resume()  # the Deployment controller makes the pods
    waiter.join(QUIET_BOUND_S / 2)

    assert not waiter.is_alive(), "still waiting although pods were created"
    watched = [r for r in on_stand_in.server.requests[before:] if "/pods?" in r]
    assert watched, "it did not watch the pods"
    assert all("watch=true" in r for r in watched), f"it polled instead of watching: {watched}"
    assert len(backend.replicas(deployment)) == 2


def test_a_version_too_old_to_watch_from_ends_the_wait_so_the_engine_lists_again(
        on_stand_in: StandInCluster, iris_model: Model, monkeypatch: Any) -> None:
    monkeypatch.setattr(kubernetes_backend, "CHANGE_WAIT_S", QUIET_BOUND_S)
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    eventually(lambda: len(backend.replicas(deployment)) == 2, "the replicas to be made")
    on_stand_in.pause()
    routes = on_stand_in.store.items("configmaps", NAMESPACE)[0]["metadata"]["name"]
    on_stand_in.store.update("configmaps", NAMESPACE, routes,  # history moves on without touching the pods
                             lambda cm: cm["metadata"].setdefault("annotations", {}).update(touched="yes"))
    on_stand_in.store.compact()

    waiter = threading.Thread(target=backend.await_change, args=(deployment, 0.1))
    waiter.start()
    waiter.join(QUIET_BOUND_S / 2)

    assert not waiter.is_alive(), "a watch answered 410 Gone and it kept waiting"
    assert len(backend.replicas(deployment)) == 2

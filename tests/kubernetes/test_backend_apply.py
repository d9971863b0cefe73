"""The Kubernetes adapter's own calls, through the real `kubernetes` client over HTTP to the API stand-in.

What a platform engineer would see with kubectl: the objects Berth applies, owned by one field
manager; re-applying changes nothing; replicas reported with their state; nothing left after removal.
"""

from __future__ import annotations

from typing import Any

import pytest

from deployments.backends.base import ReplicaState
from deployments.backends.kubernetes.backend import KubernetesBackend
from deployments.backends.kubernetes.manifests import manifests_for
from deployments.models import Deployment, Model, Rollout
from deployments.models.instance_type import ensure_catalog
from deployments.rollouts.spec import DeploySpec, validate_spec
from deployments.state.observer import observe
from tests.fixtures.deployments import a_ready_build
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import BAD_IMAGE, FAILING_PROBE, StandInCluster
from tests.kubernetes.stand_in.fixtures import eventually

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in

NAMESPACE = "berth-fraud"


def a_deployment(model: Model, environment: str = "production", **fields: Any) -> tuple[Deployment, DeploySpec]:
    ensure_catalog()
    build = a_ready_build(model)
    spec = validate_spec(model, {"variations": [
        {"name": "default", "build_id": str(build.build_id), "instance_type": "small", "replicas": 2, **fields}]})
    deployment = Deployment.objects.create(model=model, environment=environment)
    Rollout.objects.create(deployment=deployment, revision=1, spec=spec.to_json())
    return deployment, spec


def test_it_applies_every_object_of_the_revision_with_berths_field_manager(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    namespace = manifests_for(deployment, spec, 1)[0]["metadata"]["namespace"]
    KubernetesBackend.from_settings().apply(deployment, spec)

    stored = {(r, name) for r, ns, name in on_stand_in.objects() if ns == namespace and r != "pods"}
    expected = {(m["kind"].lower() + ("es" if m["kind"].endswith("s") else "s"), m["metadata"]["name"])
                for m in manifests_for(deployment, spec, 1)}
    expected = {(kind.replace("networkpolicys", "networkpolicies"), name) for kind, name in expected}
    assert stored == expected
    deployment_obj = next(o for o in on_stand_in.store.items("deployments", namespace)
                          if o["metadata"]["labels"].get("berth.dev/variation") == "default")
    assert deployment_obj["metadata"]["managedFields"][0]["manager"] == "berth"
    assert any("application/apply-patch" in r or "PATCH" in r for r in on_stand_in.server.requests)


def test_applying_the_same_revision_again_keeps_the_objects_and_their_generation(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    namespace = manifests_for(deployment, spec, 1)[0]["metadata"]["namespace"]
    before = {o["metadata"]["name"]: (o["metadata"]["uid"], o["metadata"]["generation"])
              for o in on_stand_in.store.items("deployments", namespace)}
    backend.apply(deployment, spec)
    after = {o["metadata"]["name"]: (o["metadata"]["uid"], o["metadata"]["generation"])
             for o in on_stand_in.store.items("deployments", namespace)}
    assert after == before


def test_replicas_become_ready_as_the_cluster_starts_their_pods(on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    started = backend.apply(deployment, spec)
    key = spec.variations[0].runtime_key
    assert [r.name for r in started] == [f"default-{key}-0", f"default-{key}-1"]

    ready = eventually(lambda: [r for r in backend.replicas(deployment) if r.state == ReplicaState.READY],
                       "two ready replicas")
    assert sorted(r.name for r in ready) == [f"default-{key}-0", f"default-{key}-1"]
    assert all("/api/v1/namespaces/" in r.endpoint and r.endpoint.endswith(":8080/proxy") for r in ready)
    assert backend.tail_logs(deployment, ready[0].name) == ["model loaded", "serving on 0.0.0.0:8080"]


def test_delete_leaves_no_object_of_the_deployment_and_touches_no_other(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    other, other_spec = a_deployment(iris_model, "staging")
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    backend.apply(other, other_spec)
    eventually(lambda: len(on_stand_in.pods(NAMESPACE)) == 4 + 4, "pods of both deployments (and gateways)")

    backend.delete(deployment)

    left = [o for resource, ns, name in on_stand_in.objects()
            if (o := on_stand_in.store.get(resource, ns, name)) is not None]
    assert left, "the other deployment's objects stay"
    assert {o["metadata"]["labels"]["berth.dev/deployment"] for o in left} == {str(other.pk)}
    assert backend.replicas(deployment) == []


@pytest.mark.parametrize(("fate", "state", "words"), [
    (BAD_IMAGE, ReplicaState.NOT_READY, "ImagePullBackOff: the image cannot be pulled"),
    (FAILING_PROBE, ReplicaState.NOT_READY, "readiness probe (/health/ready) does not pass"),
])
def test_a_replica_that_is_not_ready_says_why_in_plain_words(
        on_stand_in: StandInCluster, iris_model: Model, fate: str, state: ReplicaState, words: str) -> None:
    deployment, spec = a_deployment(iris_model)
    on_stand_in.behave(spec.variations[0].build_id, fate)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)

    waiting = eventually(lambda: [r for r in backend.replicas(deployment) if r.reason], "a reason")
    assert waiting[0].state == state
    assert words in waiting[0].reason


def test_when_the_api_server_does_not_answer_the_observer_stores_why(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    on_stand_in.stop()

    observation = observe(deployment, backend)

    assert "The Kubernetes API does not answer" in observation.error


def test_asked_again_for_the_same_revision_it_applies_only_what_went_missing(
        on_stand_in: StandInCluster, iris_model: Model) -> None:
    deployment, spec = a_deployment(iris_model)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, spec)
    before = len(on_stand_in.server.requests)

    backend.apply(deployment, spec)  # what the engine does each poll while pods start
    assert not [r for r in on_stand_in.server.requests[before:] if r.startswith("PATCH")]

    name = on_stand_in.store.items("deployments", NAMESPACE, "app.kubernetes.io/component=model-server")[0]
    on_stand_in.store.delete("deployments", NAMESPACE, name["metadata"]["name"])  # someone deleted it
    backend.apply(deployment, spec)
    assert on_stand_in.store.get("deployments", NAMESPACE, name["metadata"]["name"]) is not None

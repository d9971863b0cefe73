"""Rollouts on Kubernetes: the real rollout engine and observer drive the Kubernetes adapter, which talks
through the real `kubernetes` client over HTTP to the API stand-in, whose controller thread plays the
cluster (pods start, become ready, crash-loop or wait for a GPU node as the test says each build does).

The engine runs in the test's own process with this test's settings (BERTH_BACKEND=kubernetes, a
kubeconfig naming the stand-in), as tests/fixtures/stand_in_runtime.py does for the observer: the
session's Celery worker keeps the local runtime the other deploy tests use.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from deployments.backends.base import ReplicaState, get_backend
from deployments.backends.kubernetes.backend import KubernetesBackend
from deployments.backends.kubernetes.watch import wait_until
from deployments.models import Build, Deployment, DeploymentStatus, Model, Rollout, RolloutStatus
from deployments.rollouts.engine import RolloutRun
from deployments.rollouts.requests import deploy, request_scale, request_undeploy
from deployments.rollouts.spec import DeploySpec, validate_spec
from tests.fixtures.deployments import a_ready_build, variation
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import CRASH, OOM, READY, SLOW, StandInCluster
from tests.kubernetes.stand_in.fixtures import eventually

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
NAMESPACE = "berth-fraud"  # BERTH_K8S_NAMESPACE_PATTERN's default for the project `fraud`
CRASH_LOG = ("loading model", "Traceback (most recent call last):", "KeyError: 'petal_width'")


def run(rollout: Rollout) -> Rollout:
    """The rollout task's work, with the adapter the console's settings choose."""
    RolloutRun(rollout.pk, get_backend()).run()
    rollout.refresh_from_db()
    return rollout


def serving(model: Model, user: Any, build: Build, **fields: Any) -> Deployment:
    rollout = run(deploy(model, {"variations": [variation(build, **fields)]}, user))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    return rollout.deployment


def model_server_pods(cluster: StandInCluster) -> list[dict[str, Any]]:
    return cluster.pods(NAMESPACE, "app.kubernetes.io/component=model-server")


def runtime_keys(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["labels"]["berth.dev/runtime-key"] for p in pods}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_the_console_uses_the_kubernetes_adapter_when_told_to(on_stand_in: StandInCluster) -> None:
    assert isinstance(get_backend(), KubernetesBackend)


def test_a_first_deploy_becomes_running_behind_the_gateway(on_stand_in: StandInCluster, iris_model: Model,
                                                          alice: Any) -> None:
    build = a_ready_build(iris_model)
    deployment = serving(iris_model, alice, build, replicas=2)

    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert deployment.gateway_url.endswith(f".{NAMESPACE}.svc")
    observed = deployment.observed["replicas"]
    assert len(observed) == 2
    assert {r["state"] for r in observed} == {ReplicaState.READY}
    assert len([p for p in model_server_pods(on_stand_in) if is_ready(p)]) == 2
    routes = on_stand_in.store.items("configmaps", NAMESPACE)[0]["data"]["routes.json"]
    assert '"traffic_percent": 100' in routes


def test_an_update_keeps_the_old_revision_serving_until_the_new_one_is_ready(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    old_build, new_build = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving(iris_model, alice, old_build, replicas=2)
    old_key = runtime_keys(model_server_pods(on_stand_in)).pop()
    on_stand_in.behave(str(new_build.build_id), SLOW)
    seen_while_waiting: list[list[dict[str, Any]]] = []

    def cluster_finishes_starting_the_new_pod() -> None:
        pods = eventually(lambda: (p := model_server_pods(on_stand_in)) and len(runtime_keys(p)) == 2 and p,
                          "a new pod next to the old ones")
        seen_while_waiting.append(pods)
        on_stand_in.behave(str(new_build.build_id), READY)

    helper = threading.Thread(target=cluster_finishes_starting_the_new_pod)
    helper.start()
    rollout = run(deploy(iris_model, {"variations": [variation(new_build, replicas=2)]}, alice))
    helper.join(30)

    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    old_pods = [p for p in seen_while_waiting[0] if p["metadata"]["labels"]["berth.dev/runtime-key"] == old_key]
    assert len(old_pods) == 2, "both old pods stayed while the new one started"
    assert all(is_ready(p) for p in old_pods), "both old pods served while the new one started"
    final = eventually(lambda: (p := model_server_pods(on_stand_in)) and old_key not in runtime_keys(p) and p,
                       "the old pods gone")
    assert len(final) == 2
    assert all(is_ready(p) for p in final)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING


@pytest.mark.parametrize(("fate", "words"), [(CRASH, "CrashLoopBackOff: exited with code 1"), (OOM, "OOMKilled")])
def test_a_crash_looping_build_fails_the_rollout_and_the_previous_revision_comes_back(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any, fate: str, words: str) -> None:
    good, bad = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving(iris_model, alice, good)
    good_key = runtime_keys(model_server_pods(on_stand_in)).pop()
    on_stand_in.behave(str(bad.build_id), fate, log=CRASH_LOG)
    routes_before = on_stand_in.store.items("configmaps", NAMESPACE)[0]

    rollout = run(deploy(iris_model, {"variations": [variation(bad)]}, alice))

    assert rollout.status == RolloutStatus.FAILED
    assert words in rollout.reason
    assert "KeyError: 'petal_width'" in rollout.reason
    template = on_stand_in.store.items("deployments", NAMESPACE, "app.kubernetes.io/component=model-server")[0]
    assert template["spec"]["template"]["metadata"]["labels"]["berth.dev/runtime-key"] == good_key
    assert on_stand_in.store.items("configmaps", NAMESPACE)[0]["data"] == routes_before["data"], "the old weights stay"
    pods = eventually(lambda: (p := model_server_pods(on_stand_in)) and runtime_keys(p) == {good_key}
                      and all(is_ready(x) for x in p) and p, "only the good build's pods, ready")
    assert len(pods) == 1
    deployment.refresh_from_db()
    assert deployment.current_rollout is not None
    assert deployment.current_rollout.revision == 1
    assert deployment.events.filter(message__contains=words).exists()


def test_a_deploy_that_does_not_become_ready_in_time_fails_saying_so(
        on_stand_in: StandInCluster, settings: Any, iris_model: Model, alice: Any) -> None:
    settings.BERTH_DEPLOY_TIMEOUT_CAP_S = 2
    build = a_ready_build(iris_model)
    on_stand_in.behave(str(build.build_id), SLOW)

    rollout = run(deploy(iris_model, {"variations": [variation(build)]}, alice))

    assert rollout.status == RolloutStatus.FAILED
    assert "within the deploy timeout of 2 s" in rollout.reason
    eventually(lambda: not on_stand_in.objects(NAMESPACE), "a failed first deploy leaves nothing")


def test_replicas_say_when_the_deployment_exceeded_its_progress_deadline(
        on_stand_in: StandInCluster, settings: Any, iris_model: Model, alice: Any) -> None:
    good, slow = a_ready_build(iris_model), a_ready_build(iris_model)
    deployment = serving(iris_model, alice, good)
    settings.BERTH_DEPLOY_TIMEOUT_CAP_S = 1
    on_stand_in.behave(str(slow.build_id), SLOW)
    backend = KubernetesBackend.from_settings()
    backend.apply(deployment, validate_spec(iris_model, {"variations": [variation(slow)]}))

    waiting = eventually(lambda: [r for r in backend.replicas(deployment) if "ProgressDeadlineExceeded" in r.reason],
                         "the Progressing condition's reason on the new replica")
    assert waiting[0].state == ReplicaState.STARTING
    assert "not all ready within 1 s" in waiting[0].reason


def test_scaling_changes_the_replicas_without_restarting_the_running_ones(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    build = a_ready_build(iris_model)
    deployment = serving(iris_model, alice, build, replicas=1)
    first = {p["metadata"]["uid"] for p in model_server_pods(on_stand_in)}

    rollout = run(request_scale(deployment, "default", 3, alice))

    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    pods = model_server_pods(on_stand_in)
    assert len(pods) == 3
    assert first <= {p["metadata"]["uid"] for p in pods}
    assert deployment.current_rollout is not None
    spec = DeploySpec.from_json(deployment.current_rollout.spec).with_replicas("default", 2)
    started, stopped = KubernetesBackend.from_settings().scale(deployment, spec)
    assert (started, len(stopped)) == ([], 1)
    eventually(lambda: len(model_server_pods(on_stand_in)) == 2, "the scale subresource's 2 replicas")
    scaled = on_stand_in.store.items("deployments", NAMESPACE, "app.kubernetes.io/component=model-server")[0]
    assert scaled["spec"]["replicas"] == 2


def test_a_gpu_instance_type_asks_for_the_gpu_and_says_when_no_node_has_one(
        on_stand_in: StandInCluster, settings: Any, iris_model: Model, alice: Any) -> None:
    settings.BERTH_DEPLOY_TIMEOUT_CAP_S = 2
    build = a_ready_build(iris_model)

    rollout = run(deploy(iris_model, {"variations": [variation(build, instance_type="gpu.t4.xl")]}, alice))

    assert rollout.status == RolloutStatus.FAILED
    assert "Unschedulable: no node has a free nvidia.com/gpu" in rollout.reason
    on_stand_in.gpu_nodes = 1
    rollout = run(deploy(iris_model, {"variations": [variation(build, instance_type="gpu.t4.xl")]}, alice))
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    pod = model_server_pods(on_stand_in)[0]
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]


def test_an_iam_role_gives_the_replicas_an_annotated_service_account(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    role = "arn:aws:iam::123456789012:role/iris"
    serving(iris_model, alice, a_ready_build(iris_model), iam_role_arn=role)

    accounts = on_stand_in.store.items("serviceaccounts", NAMESPACE)
    assert len(accounts) == 1
    assert accounts[0]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    pod = model_server_pods(on_stand_in)[0]
    assert pod["spec"]["serviceAccountName"] == accounts[0]["metadata"]["name"]


def test_undeploy_leaves_no_object_in_the_cluster(on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    deployment = serving(iris_model, alice, a_ready_build(iris_model), replicas=2,
                         env=[{"name": "TOKEN", "value": "s3cr3t", "secret": True}])
    assert on_stand_in.store.items("secrets", NAMESPACE)

    rollout = run(request_undeploy(deployment, alice))

    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    eventually(lambda: on_stand_in.objects(NAMESPACE) == [], "no object left (pods go with their Deployments)")
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED


def test_a_watch_that_lost_its_history_lists_again_and_sees_the_change(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    deployment = serving(iris_model, alice, a_ready_build(iris_model))
    backend = KubernetesBackend.from_settings()
    on_stand_in.pause()
    found: list[Any] = []
    selector = "app.kubernetes.io/component=gateway"

    def wait_for_the_gateway_to_scale() -> None:
        found.append(wait_until(backend.api, "Deployment", NAMESPACE, selector,
                                lambda items: any(d["spec"]["replicas"] == 3 for d in items), 30))

    before = len(on_stand_in.server.requests)
    waiter = threading.Thread(target=wait_for_the_gateway_to_scale)
    waiter.start()
    eventually(lambda: any("watch=true" in r for r in on_stand_in.server.requests[before:]), "the watch to start")
    routes = on_stand_in.store.items("configmaps", NAMESPACE)[0]["metadata"]["name"]
    on_stand_in.store.update("configmaps", NAMESPACE, routes,  # a change the watch does not select
                             lambda cm: cm["metadata"].setdefault("annotations", {}).update(touched="yes"))
    on_stand_in.store.compact()  # the history up to now is gone: the watch's version is too old
    on_stand_in.store.drop_watches()
    name = on_stand_in.store.items("deployments", NAMESPACE, selector)[0]["metadata"]["name"]
    backend.api.scale(NAMESPACE, name, 3)
    waiter.join(40)

    assert found
    assert found[0] is not None
    assert found[0][0]["spec"]["replicas"] == 3
    requests = on_stand_in.server.requests[before:]
    lists = [r for r in requests if "/deployments?" in r and "watch=true" not in r]
    assert len(lists) == 2, f"listed once, then again after 410 Gone: {requests}"
    assert deployment.pk

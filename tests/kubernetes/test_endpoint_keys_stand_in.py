"""Endpoint keys through the Kubernetes adapter: the real rollout engine and key refresh, over the real
`kubernetes` client and HTTP, against the API stand-in (tests/kubernetes/stand_in/).

What the cluster ends up holding is what the gateway pods would read: the keys Secret mounted into
the gateway's pods, rewritten when a key is revoked, gone when keys are no longer required.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from deployments.backends.base import get_backend
from deployments.endpoint_keys.keys import revoke_key
from deployments.endpoint_keys.tasks import refresh_keys
from deployments.models import Deployment, EndpointKey, Model, Rollout, RolloutStatus
from deployments.rollouts.engine import RolloutRun
from deployments.rollouts.requests import deploy
from tests.fixtures.deployments import a_ready_build, variation
from tests.kubernetes.stand_in import fixtures
from tests.kubernetes.stand_in.cluster import StandInCluster

pytestmark = pytest.mark.django_db
cluster, on_stand_in = fixtures.cluster, fixtures.on_stand_in
NAMESPACE = "berth-fraud"
GATEWAY = "app.kubernetes.io/component=gateway"


def run(rollout: Rollout) -> Deployment:
    RolloutRun(rollout.pk, get_backend()).run()
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.SUCCEEDED, rollout.reason
    return rollout.deployment


def keys_secrets(cluster: StandInCluster) -> list[dict[str, Any]]:
    return [s for s in cluster.store.items("secrets", NAMESPACE)
            if s["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]


def hashes_in(secret: dict[str, Any]) -> set[str]:
    (text,) = secret["data"].values()
    return {item["sha256"] for item in json.loads(base64.b64decode(text))["endpoint_keys"]}


def sha(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def gateway_template(cluster: StandInCluster) -> dict[str, Any]:
    (gateway,) = [d for d in cluster.store.items("deployments", NAMESPACE)
                  if d["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]
    return gateway["spec"]["template"]["spec"]


def test_a_revoked_key_leaves_the_gateways_secret(on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    project = iris_model.project
    _, billing_raw = EndpointKey.issue(project, "billing service", alice)
    batch, batch_raw = EndpointKey.issue(project, "nightly batch", alice)
    build = a_ready_build(iris_model)

    deployment = run(deploy(iris_model, {"variations": [variation(build)], "require_key": True}, alice))

    (secret,) = keys_secrets(on_stand_in)
    assert {sha(billing_raw), sha(batch_raw)} <= hashes_in(secret)
    pod = gateway_template(on_stand_in)
    assert {"name": "keys", "secret": {"secretName": secret["metadata"]["name"]}} in pod["volumes"]
    assert "--keys-file" in pod["containers"][0]["args"]

    revoke_key(batch)  # its Celery task runs after the commit; here, as the worker would:
    assert refresh_keys(project.pk) == 1

    (secret,) = keys_secrets(on_stand_in)
    assert sha(batch_raw) not in hashes_in(secret)
    assert sha(billing_raw) in hashes_in(secret)
    assert deployment.current_rollout is not None
    assert secret["metadata"]["labels"]["berth.dev/revision"] == str(deployment.current_rollout.revision)


def test_a_key_created_later_reaches_the_gateways_secret_at_the_next_refresh(
        on_stand_in: StandInCluster, iris_model: Model, alice: Any) -> None:
    run(deploy(iris_model, {"variations": [variation(a_ready_build(iris_model))], "require_key": True}, alice))
    _, raw = EndpointKey.issue(iris_model.project, "new service", alice)
    assert sha(raw) not in hashes_in(keys_secrets(on_stand_in)[0])

    assert refresh_keys(iris_model.project.pk) == 1

    assert sha(raw) in hashes_in(keys_secrets(on_stand_in)[0])


def test_turning_keys_off_removes_the_secret_and_its_mount(on_stand_in: StandInCluster, iris_model: Model,
                                                           alice: Any) -> None:
    build = a_ready_build(iris_model)
    run(deploy(iris_model, {"variations": [variation(build)], "require_key": True}, alice))
    assert len(keys_secrets(on_stand_in)) == 1

    run(deploy(iris_model, {"variations": [variation(build)], "require_key": False}, alice))

    assert keys_secrets(on_stand_in) == []
    pod = gateway_template(on_stand_in)
    assert all("secret" not in v for v in pod["volumes"])
    assert "--keys-file" not in pod["containers"][0]["args"]
    assert refresh_keys(iris_model.project.pk) == 0  # nothing requires keys: no gateway to tell

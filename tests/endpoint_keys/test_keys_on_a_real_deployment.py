"""Endpoint keys end to end: a real deployment (supervisord, model server, gateway) deployed by the
Celery worker with `require_key`, keys created and revoked through the API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from berth.client import BerthError
from berth.realtime import RealTimeClient
from django.utils import timezone

from deployments.endpoint_keys.last_used import note_uses
from deployments.models import Deployment, EndpointKey
from deployments.prediction.gateway import send
from deployments.rollouts.requests import deploy
from tests.api.client import api_as
from tests.deploy.conftest import wait_for_rollout
from tests.fixtures.builds import IRIS_ROW
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db(transaction=True)
KEYS = "/api/v1/projects/fraud/endpoint-keys/"


def spec(build: Any, **top: Any) -> dict[str, Any]:
    return {"variations": [{"name": "default", "build_id": str(build.build_id), "instance_type": "small",
                            "replicas": 1, "server_workers": 1}], **top}


def predict(deployment: Deployment, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(deployment.predict_url, json=[IRIS_ROW], headers=headers, timeout=30)


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def test_a_deployment_requiring_a_key_refuses_calls_without_one_and_forgets_revoked_keys(
        supervisord, celery_worker, iris_model, alice):
    created = api_as(alice).post(KEYS, {"name": "billing"}, format="json").json()
    expired, expired_raw = EndpointKey.issue(iris_model.project, "old", alice, timedelta(days=1))
    EndpointKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model), require_key=True), alice))
    assert rollout.status == "succeeded", rollout.reason
    deployment = Deployment.objects.get(pk=rollout.deployment_id)

    assert predict(deployment).status_code == 401
    assert predict(deployment).headers["www-authenticate"].startswith("Bearer")
    assert predict(deployment, "bek_" + "x" * 43).status_code == 401
    assert "expired" in predict(deployment, expired_raw).json()["error"]
    assert predict(deployment, created["key"]).status_code == 200
    assert httpx.get(f"{deployment.gateway_url}/health/ready", timeout=10).status_code == 200
    assert send(deployment, json.dumps([IRIS_ROW]).encode()).status == 200  # the Prediction tab: the console's key

    note_uses()
    assert EndpointKey.objects.get(pk=created["id"]).last_used_at is not None
    assert EndpointKey.objects.get(pk=expired.pk).last_used_at is None

    later = api_as(alice).post(KEYS, {"name": "later"}, format="json").json()  # new keys reach the gateway too
    eventually(lambda: predict(deployment, later["key"]).status_code == 200, "the new key being accepted")
    with RealTimeClient("iris", url=deployment.gateway_url, endpoint_key=later["key"]) as client:
        assert len(client.predict([IRIS_ROW])) == 1
    with RealTimeClient("iris", url=deployment.gateway_url) as client, pytest.raises(BerthError) as refused:
        client.predict([IRIS_ROW])
    assert refused.value.status == 401
    assert "BERTH_ENDPOINT_KEY" in str(refused.value)

    assert api_as(alice).delete(f"{KEYS}{created['id']}/").status_code == 204
    eventually(lambda: predict(deployment, created["key"]).status_code == 401, "the revoked key being refused")
    assert predict(deployment, later["key"]).status_code == 200


def test_a_deployment_that_does_not_require_keys_takes_calls_without_one(supervisord, celery_worker, iris_model,
                                                                          alice):
    rollout = wait_for_rollout(deploy(iris_model, spec(ready_build(iris_model)), alice))
    deployment = Deployment.objects.get(pk=rollout.deployment_id)

    assert predict(deployment).status_code == 200
    assert rollout.spec["require_key"] is False

"""The Overview and Usage tabs' snippets pass the endpoint key exactly when the deployment requires one."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Model
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in

pytestmark = pytest.mark.django_db
AUTH = 'Authorization: Bearer $BERTH_ENDPOINT_KEY'


def requiring_key(deployment: Deployment) -> Deployment:
    rollout = deployment.current_rollout
    assert rollout is not None
    rollout.spec = {**rollout.spec, "require_key": True}
    rollout.save(update_fields=["spec"])
    return deployment


def pages(deployment: Deployment, user: object) -> tuple[str, str]:
    client = logged_in(user)  # type: ignore[arg-type]
    return (client.get(f"/deployments/{deployment.pk}/").content.decode(),
            client.get(f"/deployments/{deployment.pk}/usage/").content.decode())


def test_the_curl_and_python_snippets_send_the_key_when_one_is_required(iris_model: Model, bob):
    deployment = requiring_key(serving_deployment(iris_model, variation(a_ready_build(iris_model))))

    overview, usage = pages(deployment, bob)

    assert AUTH in overview
    assert AUTH in usage
    assert "BERTH_ENDPOINT_KEY" in usage.split('id="python-snippet"')[1]
    assert "/projects/fraud/keys/" in usage


def test_the_snippets_carry_no_key_when_none_is_required(iris_model: Model, bob):
    deployment = serving_deployment(iris_model, variation(a_ready_build(iris_model)))

    overview, usage = pages(deployment, bob)

    assert "curl -X POST" in overview
    assert "Authorization" not in overview
    assert "BERTH_ENDPOINT_KEY" not in usage


def test_the_configuration_tab_says_whether_predict_calls_need_a_key(iris_model: Model, bob):
    plain = serving_deployment(iris_model, variation(a_ready_build(iris_model)))
    client = logged_in(bob)

    assert "need no endpoint key" in client.get(f"/deployments/{plain.pk}/configuration/").content.decode()
    requiring_key(plain)
    assert "need an <a" in client.get(f"/deployments/{plain.pk}/configuration/").content.decode()

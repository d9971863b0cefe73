"""What only Kubernetes acts on is refused by the local runtime's API too, never silently kept:
a GPU instance type, an IAM role, a service-account key secret, daemon mode."""

from __future__ import annotations

import pytest
from django.test import override_settings

from deployments.models import Build, Deployment, Model
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, variation

pytestmark = pytest.mark.django_db

DEPLOY_API = "/api/v1/models/iris/deploy/"
LOCAL_ONLY = "applies on Kubernetes only; this console runs the local runtime. Leave it out."


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


@pytest.mark.parametrize(("field", "value"), [
    ("iam_role_arn", "arn:aws:iam::123456789012:role/my-model"),
    ("service_account_key_secret_name", "gcp-key"),
    ("daemon_mode", True),
])
def test_the_local_runtime_refuses_what_only_kubernetes_acts_on(build, alice, field, value):
    response = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, **{field: value})]}, format="json")

    assert response.status_code == 400
    assert response.json()[f"variations.0.{field}"] == [f"{field} {LOCAL_ONLY}"]
    assert not Deployment.objects.exists()


def test_the_local_runtime_refuses_a_gpu_instance_type(build, alice):
    response = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, instance_type="gpu.t4.xl")]},
                                  format="json")

    assert response.status_code == 400
    assert response.json()["variations.0.instance_type"][0].startswith("gpu.t4.xl has a GPU; this console runs the "
                                                                       "local runtime")
    assert not Deployment.objects.exists()


@override_settings(BERTH_BACKEND="kubernetes")
def test_kubernetes_takes_them(build, alice):
    response = api_as(alice).post(DEPLOY_API, {"variations": [variation(
        build, instance_type="gpu.t4.xl", iam_role_arn="arn:aws:iam::123456789012:role/my-model", daemon_mode=True,
        service_account_key_secret_name="gcp-key")]}, format="json")  # noqa: S106 - a secret's name

    assert response.status_code == 202, response.json()

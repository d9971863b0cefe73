"""`require_key` in a deploy: a JSON boolean, kept across deploys, on by default behind an Ingress."""

from __future__ import annotations

import pytest
from django.test import override_settings

from deployments.rollouts.spec import DeploySpec, validate_spec
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, variation

pytestmark = pytest.mark.django_db


def test_left_out_it_keeps_what_the_deployment_has_else_takes_the_default(iris_model):
    data = {"variations": [variation(a_ready_build(iris_model))]}

    assert validate_spec(iris_model, data).require_key is False
    with override_settings(BERTH_ENDPOINT_KEYS_DEFAULT=True):
        assert validate_spec(iris_model, data).require_key is True
    requiring = validate_spec(iris_model, {**data, "require_key": True})
    assert validate_spec(iris_model, data, previous=requiring).require_key is True
    assert DeploySpec.from_json(requiring.to_json()).require_key is True
    assert validate_spec(iris_model, {**data, "require_key": False}, previous=requiring).require_key is False


def test_on_kubernetes_a_deployment_behind_an_ingress_requires_a_key_unless_it_says_otherwise(iris_model):
    data = {"variations": [variation(a_ready_build(iris_model))]}

    with override_settings(BERTH_BACKEND="kubernetes", BERTH_INGRESS_HOST_PATTERN=""):
        assert validate_spec(iris_model, data).require_key is False
        assert validate_spec(iris_model, {**data, "require_key": True}).require_key is True
    with override_settings(BERTH_BACKEND="kubernetes", BERTH_INGRESS_HOST_PATTERN="{model}-{environment}.example.com"):
        assert validate_spec(iris_model, data).require_key is True
        assert validate_spec(iris_model, {**data, "require_key": False}).require_key is False
    with override_settings(BERTH_BACKEND="local", BERTH_INGRESS_HOST_PATTERN="{model}-{environment}.example.com"):
        assert validate_spec(iris_model, data).require_key is False  # no Ingress on the local runtime


def test_the_api_refuses_a_require_key_that_is_not_a_boolean(iris_model, alice):
    body = {"variations": [variation(a_ready_build(iris_model))], "require_key": "yes"}

    answer = api_as(alice).post("/api/v1/models/iris/deploy/", body, format="json")

    assert answer.status_code == 400
    assert "require_key" in answer.json()

"""A name ends where its rule says: a trailing newline is refused, not stored with the name
(a validator's `$` matches before a final newline; supervisord program names, routes and
the gateway's URLs are made from these names)."""

from __future__ import annotations

import pytest

from deployments.models import Build, Deployment, Model
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, variation

pytestmark = pytest.mark.django_db

DEPLOY_API = "/api/v1/models/iris/deploy/"


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


@pytest.mark.parametrize(("field", "value"), [("name", "challenger\n"), ("name", "default\n\n")])
def test_a_variation_name_with_a_trailing_newline_is_refused(build, alice, field, value):
    response = api_as(alice).post(DEPLOY_API, {"variations": [variation(build, **{field: value})]}, format="json")

    assert response.status_code == 400
    assert response.json()[f"variations.0.{field}"] == [
        "Use 1-36 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit."]
    assert not Deployment.objects.exists()


def test_an_environment_with_a_trailing_newline_is_refused(build, alice):
    response = api_as(alice).post(DEPLOY_API, {"variations": [variation(build)], "environment": "staging\n"},
                                  format="json")

    assert response.status_code == 400
    assert "environment" in response.json()
    assert not Deployment.objects.exists()

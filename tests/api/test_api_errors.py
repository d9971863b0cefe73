"""console/api_errors.py: every error is `{"<field>": [messages]}` or `{"detail": "message"}`, as docs/api.md says."""

from __future__ import annotations

import pytest

from console.api_errors import field_errors
from tests.api.client import api_as
from tests.fixtures.deployments import a_ready_build, undeployed_deployment, variation


@pytest.mark.parametrize(("data", "shown"), [
    (["Nothing is serving."], {"detail": "Nothing is serving."}),
    ({"non_field_errors": ["Send one.", "Not both."]}, {"detail": "Send one. Not both."}),
    ({"__all__": ["Refused."], "name": ["Too long."]}, {"name": ["Too long."], "detail": "Refused."}),
    ({"detail": ["Send a JSON object."]}, {"detail": "Send a JSON object."}),
    ({"variations": [{}, {"replicas": ["Must be from 1 to 100."]}]}, {"variations.1.replicas": ["Must be from 1 to 100."]}),
    ({"variation": {"env": [{"name": ["Bad."]}]}}, {"variation.env.0.name": ["Bad."]}),
    ({"name": ["Too long."]}, {"name": ["Too long."]}),
])
def test_validation_errors_take_one_of_the_two_documented_shapes(data, shown):
    assert field_errors(data) == shown


@pytest.mark.django_db
def test_an_error_of_no_single_field_is_a_detail(iris_model, alice):
    deployment = undeployed_deployment(iris_model, variation(a_ready_build(iris_model)))

    response = api_as(alice).post(f"/api/v1/deployments/{deployment.pk}/scale/", {"replicas": 2}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "Nothing is serving: deploy a build before scaling."}


@pytest.mark.django_db
def test_a_nul_character_is_refused_wherever_it_is_sent_never_a_500(iris_model, alice):
    client = api_as(alice)

    in_a_slug = client.post("/api/v1/models/", {"model_id": "setosa", "name": "Setosa", "project": "fr\x00aud"},
                            format="json")
    in_a_spec = client.post("/api/v1/models/iris/deploy/", {"variation": {"instance_type": "sm\x00all"}},
                            format="json")
    in_a_path = client.get("/api/v1/projects/fr%00aud/")

    assert (in_a_slug.status_code, in_a_slug.json()) == (400, {"project": ["Null characters are not allowed."]})
    assert (in_a_spec.status_code, in_a_spec.json()) == (
        400, {"variation.instance_type": ["Null characters are not allowed."]})
    assert (in_a_path.status_code, in_a_path.json()) == (404, {"detail": "No such object in your projects."})

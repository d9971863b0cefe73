"""Deploy requests are checked once, with a message per field, and nothing is half-written."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from console.crypto import decrypt
from deployments.models import Build, Deployment, Rollout
from deployments.rollouts.requests import RolloutConflict, deploy
from deployments.rollouts.spec import validate_spec, variation_errors
from tests.fixtures.runtime import ready_build

pytestmark = pytest.mark.django_db


def variation(build: Build, **overrides: object) -> dict:
    return {"name": "default", "build_id": str(build.build_id), **overrides}


def test_each_bad_field_gets_its_own_message(iris_model):
    build = ready_build(iris_model)
    with pytest.raises(ValidationError) as caught:
        validate_spec(iris_model, {"variations": [variation(build, name="Bad_Name", replicas=0, server_workers=99,
                                                            request_timeout_ms="soon", instance_type="huge",
                                                            env=[{"name": "BERTH_PORT", "value": "1"}])]})
    errors = variation_errors(caught.value)
    assert set(errors) == {"name", "replicas", "server_workers", "request_timeout_ms", "instance_type", "env.0.name"}
    assert "from 1 to 100" in errors["replicas"][0]


def test_live_traffic_must_add_up_to_100_and_builds_must_be_ready(iris_model):
    build = ready_build(iris_model)
    building = Build.objects.create(model=iris_model, source_name="x.tar.gz")
    with pytest.raises(ValidationError) as caught:
        validate_spec(iris_model, {"variations": [variation(build, traffic_percent=60),
                                                  variation(build, name="challenger", traffic_percent=30)]})
    assert "add up to 100% (now default 60%, challenger 30%)" in caught.value.message_dict["variations"][0]
    with pytest.raises(ValidationError) as caught:
        validate_spec(iris_model, {"variations": [variation(building)]})
    assert "only ready builds" in caught.value.message_dict["variations.0.build_id"][0]


def test_secret_env_values_are_stored_encrypted_and_kept_when_not_resent(iris_model):
    build = ready_build(iris_model)
    spec = validate_spec(iris_model, {"variations": [variation(build, env=[
        {"name": "API_TOKEN", "value": "s3cret", "secret": True}, {"name": "MODE", "value": "fast"}])]})
    token = spec.variations[0].env[0]
    assert token.secret
    assert token.value != "s3cret"
    assert decrypt(token.value) == "s3cret"
    again = validate_spec(iris_model, {"variations": [variation(build, env=[
        {"name": "API_TOKEN", "value": "", "secret": True}])]}, previous=spec)
    assert again.variations[0].env[0].value == token.value


def test_a_second_rollout_is_refused_while_one_is_pending(iris_model, alice, django_capture_on_commit_callbacks):
    # Not transactional: the test's transaction never commits, so the rollout's enqueue stays a
    # captured callback and no Celery worker of this session can start it ("pending", never "in progress").
    from deployments.models.instance_type import ensure_catalog

    ensure_catalog()
    build = ready_build(iris_model)
    with django_capture_on_commit_callbacks(execute=False):
        deploy(iris_model, {"variations": [variation(build)]}, alice)
    with pytest.raises(RolloutConflict, match=r"Revision 1 .* still pending"):
        deploy(iris_model, {"variations": [variation(build, replicas=2)]}, alice)
    assert Rollout.objects.get().status == "pending"
    assert Deployment.objects.get().status == "deploying"

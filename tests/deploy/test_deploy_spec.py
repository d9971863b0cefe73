"""Deploy requests are checked once, with a message per field, and nothing is half-written."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError

from console.crypto import decrypt
from deployments.models import Build, Deployment, Rollout
from deployments.rollouts.requests import RolloutConflict, deploy
from deployments.rollouts.spec import EnvVar, VariationSpec, validate_spec, variation_errors
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


@pytest.mark.parametrize(("sent", "allowed"), [(None, False), (False, False), (True, True), ("on", True),
                                               ("true", True), ("false", False), ("", False)])
def test_outbound_network_is_blocked_unless_asked_for(iris_model, sent, allowed):
    build = ready_build(iris_model)
    raw = variation(build) if sent is None else variation(build, outbound_network=sent)

    spec = validate_spec(iris_model, {"variations": [raw]})

    assert spec.variations[0].outbound_network is allowed


def test_outbound_network_must_be_true_or_false(iris_model):
    build = ready_build(iris_model)
    with pytest.raises(ValidationError) as caught:
        validate_spec(iris_model, {"variations": [variation(build, outbound_network="maybe")]})
    assert variation_errors(caught.value) == {"outbound_network": ["Use true or false."]}


BUILD_ID = "9fbf4a63-0000-4000-8000-000000000000"
# runtime_key values computed before outbound_network existed: an upgrade must not restart these replicas.
# (Stored specs hold every field, so the batch size they were made with, 1 then, is spelled out.)
KEYS_BEFORE_OUTBOUND_NETWORK = [
    (VariationSpec(name="default", build_id=BUILD_ID, max_batch_size=1), "284d17c5"),
    (VariationSpec(name="default", build_id=BUILD_ID, max_batch_size=1, instance_type="medium", server_workers=4,
                   env=(EnvVar("API_URL", "https://x"),), daemon_mode=True,
                   iam_role_arn="arn:aws:iam::123456789012:role/m"), "dfa4d988"),
]


@pytest.mark.parametrize(("spec", "key"), KEYS_BEFORE_OUTBOUND_NETWORK)
def test_the_runtime_key_of_a_spec_without_outbound_network_is_unchanged(spec, key):
    stored_before = {name: value for name, value in spec.to_json().items() if name != "outbound_network"}

    assert spec.runtime_key == key
    assert VariationSpec.from_json(stored_before).outbound_network is False
    assert VariationSpec.from_json(stored_before).runtime_key == key


@pytest.mark.parametrize(("spec", "key"), KEYS_BEFORE_OUTBOUND_NETWORK)
def test_allowing_outbound_network_changes_the_runtime_key_and_round_trips(spec, key):
    allowed = replace(spec, outbound_network=True)

    assert allowed.runtime_key != key
    assert VariationSpec.from_json(allowed.to_json()) == allowed
    assert VariationSpec.from_json(allowed.to_json()).runtime_key == allowed.runtime_key

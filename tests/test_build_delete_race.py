"""A deploy and a delete of its build, racing: either the build is deleted and the deploy is
refused, or the deploy is stored and the delete is refused — never a revision naming a build
that is gone."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from deployments.builds.usage import BuildInUse, delete_build
from deployments.models import Build, Deployment, Model, Rollout
from deployments.rollouts.requests import request_rollout
from deployments.rollouts.spec import validate_spec
from tests.fixtures.deployments import a_ready_build, variation

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


def test_a_build_deleted_after_the_spec_was_checked_is_not_rolled_out(iris_model, build, alice):
    spec = validate_spec(iris_model, {"variations": [variation(build)]})
    deployment = Deployment.objects.create(model=iris_model, created_by=alice)
    delete_build(build)  # between the check and the revision being stored

    with pytest.raises(ValidationError) as refused:
        request_rollout(deployment, spec, alice)

    assert refused.value.message_dict == {
        "variations.0.build_id": [f"Build {str(build.build_id)[:8]} of variation default is no longer available."]}
    assert not Rollout.objects.exists()


def test_once_the_revision_is_stored_the_build_cannot_be_deleted(iris_model, build, alice):
    spec = validate_spec(iris_model, {"variations": [variation(build)]})
    deployment = Deployment.objects.create(model=iris_model, created_by=alice)
    request_rollout(deployment, spec, alice)

    with pytest.raises(BuildInUse):
        delete_build(build)
    assert Build.objects.filter(pk=build.pk).exists()

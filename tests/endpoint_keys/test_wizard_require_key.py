"""The deploy wizard's "Require an endpoint key" box: it reaches the spec, shows on review, and stays
ticked when the deployment is configured again."""

from __future__ import annotations

import pytest
from django.test import override_settings

from deployments.models import Build, Model, Rollout
from tests.endpoint_keys.test_snippets import requiring_key
from tests.fixtures.deployments import a_ready_build, serving_deployment, variation
from tests.fixtures.people import logged_in
from tests.views.test_deploy_wizard import CONFIGURE, form

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(iris_model: Model) -> Build:
    return a_ready_build(iris_model)


def test_ticking_the_box_deploys_a_spec_that_requires_a_key_and_review_says_so(build, alice):
    client = logged_in(alice)

    review = client.post(CONFIGURE, {**form(build), "require_key": "on"})
    assert "need an endpoint key" in review.content.decode()
    assert client.post(CONFIGURE, {"action": "deploy"}).status_code == 302
    assert Rollout.objects.get().spec["require_key"] is True


def test_configuring_a_deployment_that_requires_a_key_again_starts_ticked(iris_model, build, alice):
    requiring_key(serving_deployment(iris_model, variation(build)))

    page = logged_in(alice).get(CONFIGURE).content.decode()

    assert 'id="require-key" checked' in page


def test_leaving_it_unticked_requires_no_key(build, alice):
    client = logged_in(alice)

    review = client.post(CONFIGURE, form(build))
    assert "need no endpoint key" in review.content.decode()
    client.post(CONFIGURE, {"action": "deploy"})
    assert Rollout.objects.get().spec["require_key"] is False


@override_settings(BERTH_ENDPOINT_KEYS_DEFAULT=True)
def test_a_first_deploy_starts_ticked_when_keys_are_the_default(build, alice):
    page = logged_in(alice).get(CONFIGURE).content.decode()

    assert 'id="require-key" checked' in page
